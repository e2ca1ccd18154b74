from django.urls import path

from files.api import views

urlpatterns = [
    path("files", views.FileListView.as_view(), name="file-list"),
    path("files/settings", views.FileSettingsView.as_view(), name="file-settings"),
    path("files/<str:file_id>", views.FileDetailView.as_view(), name="file-detail"),
    path("files/<str:file_id>/download", views.FileDownloadView.as_view(), name="file-download"),
]

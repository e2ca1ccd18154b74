from django.urls import path

from integrations.widget.api import views

urlpatterns = [
    path("widgets", views.WidgetListView.as_view(), name="widget-list"),
    path("widgets/<str:widget_id>", views.WidgetDetailView.as_view(), name="widget-detail"),
    path(
        "widgets/<str:widget_id>/sessions",
        views.WidgetSessionListView.as_view(),
        name="widget-sessions",
    ),
]

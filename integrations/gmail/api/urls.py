from django.urls import path

from integrations.gmail.api import views

urlpatterns = [
    path("gmail/connect", views.GmailConnectView.as_view(), name="gmail-connect"),
    path("gmail/connections", views.GmailConnectionListView.as_view(), name="gmail-connections"),
    path(
        "gmail/connections/<str:connection_id>",
        views.GmailConnectionDetailView.as_view(),
        name="gmail-connection-detail",
    ),
    path(
        "gmail/connections/<str:connection_id>/labels",
        views.GmailLabelListView.as_view(),
        name="gmail-labels",
    ),
    path(
        "gmail/connections/<str:connection_id>/sync",
        views.GmailSyncView.as_view(),
        name="gmail-sync",
    ),
    path(
        "gmail/connections/<str:connection_id>/drafts",
        views.GmailDraftView.as_view(),
        name="gmail-drafts",
    ),
]

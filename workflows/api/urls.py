from django.urls import path

from workflows.api import views

urlpatterns = [
    path("workflows", views.WorkflowListView.as_view(), name="workflow-list"),
    path("workflows/<str:workflow_id>", views.WorkflowDetailView.as_view(), name="workflow-detail"),
    path(
        "workflows/<str:workflow_id>/publish",
        views.WorkflowPublishView.as_view(),
        name="workflow-publish",
    ),
    path(
        "workflows/<str:workflow_id>/versions",
        views.WorkflowVersionListView.as_view(),
        name="workflow-version-list",
    ),
    path(
        "workflows/<str:workflow_id>/runs", views.WorkflowRunsView.as_view(), name="workflow-runs"
    ),
    path(
        "workflows/<str:workflow_id>/webhook-secret",
        views.WebhookSecretView.as_view(),
        name="workflow-webhook-secret",
    ),
    path("workflow-runs", views.RunListView.as_view(), name="workflow-run-list"),
    path("workflow-runs/<str:run_id>", views.RunDetailView.as_view(), name="workflow-run-detail"),
    path(
        "workflow-runs/<str:run_id>/cancel",
        views.RunCancelView.as_view(),
        name="workflow-run-cancel",
    ),
    path(
        "workflow-runs/<str:run_id>/rerun", views.RunRerunView.as_view(), name="workflow-run-rerun"
    ),
    path(
        "workflow-runs/<str:run_id>/approve",
        views.RunApproveView.as_view(),
        name="workflow-run-approve",
    ),
    path(
        "workflow-runs/<str:run_id>/reject",
        views.RunRejectView.as_view(),
        name="workflow-run-reject",
    ),
    path(
        "workflow-notify-destinations",
        views.NotifyDestinationListView.as_view(),
        name="workflow-notify-destinations",
    ),
    path("workflow-secrets", views.SecretListView.as_view(), name="workflow-secret-list"),
    path(
        "workflow-secrets/<str:secret_id>",
        views.SecretDetailView.as_view(),
        name="workflow-secret-detail",
    ),
    path(
        "workflows/<str:workflow_id>/webhook", views.WebhookView.as_view(), name="workflow-webhook"
    ),
]

from django.urls import path

from integrations.webhooks.api import views

urlpatterns = [
    path(
        "webhooks/event-types",
        views.WebhookEventTypeListView.as_view(),
        name="webhook-event-types",
    ),
    path("webhooks/endpoints", views.WebhookEndpointListView.as_view(), name="webhook-endpoints"),
    path(
        "webhooks/endpoints/<str:endpoint_id>",
        views.WebhookEndpointDetailView.as_view(),
        name="webhook-endpoint-detail",
    ),
    path(
        "webhooks/endpoints/<str:endpoint_id>/rotate-secret",
        views.WebhookEndpointRotateSecretView.as_view(),
        name="webhook-endpoint-rotate-secret",
    ),
    path(
        "webhooks/endpoints/<str:endpoint_id>/test",
        views.WebhookEndpointTestView.as_view(),
        name="webhook-endpoint-test",
    ),
    path(
        "webhooks/endpoints/<str:endpoint_id>/deliveries",
        views.WebhookDeliveryListView.as_view(),
        name="webhook-deliveries",
    ),
    path(
        "webhooks/deliveries/<str:delivery_id>",
        views.WebhookDeliveryDetailView.as_view(),
        name="webhook-delivery-detail",
    ),
    path(
        "webhooks/deliveries/<str:delivery_id>/redeliver",
        views.WebhookDeliveryRedeliverView.as_view(),
        name="webhook-delivery-redeliver",
    ),
]

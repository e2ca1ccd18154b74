from django.urls import include, path

from integrations.api import views

urlpatterns = [
    path("api-keys", views.APIKeyListView.as_view(), name="api-key-list"),
    path("api-keys/<str:api_key_id>", views.APIKeyDetailView.as_view(), name="api-key-detail"),
    path(
        "api-keys/<str:api_key_id>/revoke",
        views.APIKeyRevokeView.as_view(),
        name="api-key-revoke",
    ),
]

# Outbound webhooks (integrations/webhooks/api).
urlpatterns += [path("", include("integrations.webhooks.api.urls"))]

# The embeddable widget's configurations (integrations/widget/api).
urlpatterns += [path("", include("integrations.widget.api.urls"))]

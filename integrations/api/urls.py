from django.urls import include, path

from integrations.api import bot_views, views

urlpatterns = [
    path("api-keys", views.APIKeyListView.as_view(), name="api-key-list"),
    path("api-keys/<str:api_key_id>", views.APIKeyDetailView.as_view(), name="api-key-detail"),
    path(
        "api-keys/<str:api_key_id>/revoke",
        views.APIKeyRevokeView.as_view(),
        name="api-key-revoke",
    ),
    # Slack and Teams bots (issue 15)
    path("integrations", bot_views.IntegrationListView.as_view(), name="integration-list"),
    path(
        "integrations/slack/install",
        bot_views.SlackInstallView.as_view(),
        name="integration-slack-install",
    ),
    path("integrations/teams", bot_views.TeamsConnectView.as_view(), name="integration-teams"),
    path(
        "integrations/<str:integration_id>",
        bot_views.IntegrationDetailView.as_view(),
        name="integration-detail",
    ),
    path(
        "integrations/<str:integration_id>/events",
        bot_views.IntegrationEventListView.as_view(),
        name="integration-events",
    ),
    path(
        "integrations/<str:integration_id>/teams-package",
        bot_views.TeamsPackageView.as_view(),
        name="integration-teams-package",
    ),
]

# Outbound webhooks (integrations/webhooks/api).
urlpatterns += [path("", include("integrations.webhooks.api.urls"))]

# The embeddable widget's configurations (integrations/widget/api).
urlpatterns += [path("", include("integrations.widget.api.urls"))]

# Gmail, per member (integrations/gmail/api).
urlpatterns += [path("", include("integrations.gmail.api.urls"))]

"""The addresses Slack and Teams call, on the platform's public host (one for every
organization: the workspace or bot routes to its organization)."""

from django.urls import path

from integrations.slack import views as slack_views

urlpatterns = [
    path("slack/events", slack_views.slack_events, name="slack-events"),
    path("slack/oauth/callback", slack_views.slack_oauth_callback, name="slack-oauth-callback"),
]

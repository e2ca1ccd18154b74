"""The addresses Slack and Teams call, on the platform's public host (one for every
organization: the workspace or bot routes to its organization)."""

from django.urls import path

from integrations.gmail import views as gmail_views
from integrations.slack import views as slack_views
from integrations.teams import views as teams_views

urlpatterns = [
    path("slack/events", slack_views.slack_events, name="slack-events"),
    path("slack/oauth/callback", slack_views.slack_oauth_callback, name="slack-oauth-callback"),
    path("gmail/oauth/callback", gmail_views.gmail_oauth_callback, name="gmail-oauth-callback"),
    path("teams/messages", teams_views.teams_messages, name="teams-messages"),
]

"""Slack's two addresses on the platform's public host: events (and interactivity and
the slash command: one Request URL) and the OAuth redirect."""

from __future__ import annotations

from django.http import HttpResponseRedirect
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from slack_bolt.adapter.django import SlackRequestHandler

from core import errors
from integrations.slack.app import bolt_app
from integrations.slack.oauth import slack_install_complete, state_read
from users.models import Organization, User


@csrf_exempt
@require_POST
def slack_events(request):
    """Bolt verifies the signature (401 and nothing stored when it is wrong), answers
    url_verification, routes the workspace to its organization, and runs our listener."""
    return SlackRequestHandler(bolt_app()).handle(request)


@require_GET
def slack_oauth_callback(request):
    from django.http import HttpResponseBadRequest

    try:
        state = state_read(request.GET.get("state", ""))
    except errors.ValidationFailed as exc:
        return HttpResponseBadRequest(exc.message, content_type="text/plain")
    organization = Organization.objects.get(pk=state["org"])
    user = User.objects.get(pk=state["user"])
    page = f"{organization.url}/integrations"
    if request.GET.get("error"):  # the admin cancelled on Slack's page
        return HttpResponseRedirect(f"{page}?slack=cancelled")
    try:
        slack_install_complete(
            code=request.GET.get("code", ""), organization=organization, user=user
        )
    except errors.DomainError as exc:
        return HttpResponseRedirect(f"{page}?slack=error&code={exc.code}")
    return HttpResponseRedirect(f"{page}?slack=connected")

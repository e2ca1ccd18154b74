"""Google's OAuth redirect, on the platform's public host (one redirect URI for every
organization: the signed state names the organization and the member)."""

from __future__ import annotations

from django.http import HttpResponseBadRequest, HttpResponseRedirect
from django.views.decorators.http import require_GET

from core import errors
from integrations.gmail.oauth import gmail_connect_complete, state_read
from users.models import Organization, User


@require_GET
def gmail_oauth_callback(request):
    try:
        state = state_read(request.GET.get("state", ""))
    except errors.ValidationFailed as exc:
        return HttpResponseBadRequest(exc.message, content_type="text/plain")
    organization = Organization.objects.get(pk=state["org"])
    user = User.objects.get(pk=state["user"])
    page = f"{organization.url}/integrations"
    if request.GET.get("error"):  # the member cancelled on Google's page
        return HttpResponseRedirect(f"{page}?gmail=cancelled")
    if not organization.memberships.filter(user=user).exists():
        return HttpResponseRedirect(f"{page}?gmail=error&code=not_a_member")
    try:
        gmail_connect_complete(
            code=request.GET.get("code", ""), state=state, organization=organization, user=user
        )
    except errors.DomainError as exc:
        return HttpResponseRedirect(f"{page}?gmail=error&code={exc.code}")
    return HttpResponseRedirect(f"{page}?gmail=connected")

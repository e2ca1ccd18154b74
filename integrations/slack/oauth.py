"""Installing the Slack app into a workspace for an organization (OAuth v2).

The dashboard asks for the authorize URL (``slack_install_url``): its ``state`` is
signed (Django's signing, 10 minutes) and names the organization and the admin; Slack
sends the admin back to the platform's one redirect URI, where ``slack_install_complete``
checks the state (once: its nonce is spent), exchanges the code with
``oauth.v2.access`` (slack-sdk) and saves the installation through Bolt's installation
store, backed by our models.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django_tenants.utils import tenant_context
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store import Installation

from audit.models import AuditAction
from audit.services import Actor, audit_record
from core import errors
from integrations.models import Integration
from integrations.slack.client import web_client
from integrations.slack.store import installation_store

STATE_SALT = "integrations.slack.oauth"
STATE_MAX_AGE = 600


def redirect_uri() -> str:
    port = f":{settings.SITE_PORT}" if settings.SITE_PORT else ""
    return (
        f"{settings.SITE_SCHEME}://{settings.BASE_DOMAIN}{port}/integrations/slack/oauth/callback"
    )


def slack_install_url(*, organization, user) -> str:
    if not (settings.SLACK_CLIENT_ID and settings.SLACK_CLIENT_SECRET):
        # 409: a state of the platform an admin cannot change, said in so many words.
        raise errors.Conflict(
            "Slack is not configured on this platform: the operator sets SLACK_CLIENT_ID, "
            "SLACK_CLIENT_SECRET and SLACK_SIGNING_SECRET.",
            code="slack_not_configured",
        )
    state = signing.dumps(
        {"org": organization.pk, "user": user.pk, "nonce": secrets.token_urlsafe(16)},
        salt=STATE_SALT,
    )
    query = urlencode(
        {
            "client_id": settings.SLACK_CLIENT_ID,
            "scope": ",".join(settings.SLACK_BOT_SCOPES),
            "state": state,
            "redirect_uri": redirect_uri(),
        }
    )
    return f"{settings.SLACK_AUTHORIZE_URL}?{query}"


def state_read(state: str) -> dict:
    """The organization and admin a state names; raises ValidationFailed when it is
    forged, expired or already used."""
    try:
        data = signing.loads(state or "", salt=STATE_SALT, max_age=STATE_MAX_AGE)
    except signing.BadSignature:
        raise errors.ValidationFailed(
            "This Slack installation link is invalid or expired. Start again from the "
            "Integrations page.",
            code="invalid_state",
        ) from None
    if not cache.add(f"slack-oauth-state:{data['nonce']}", 1, STATE_MAX_AGE):
        raise errors.ValidationFailed(
            "This Slack installation link was already used.", code="invalid_state"
        )
    return data


def slack_install_complete(*, code: str, organization, user) -> Integration:
    client = web_client()
    try:
        response = client.oauth_v2_access(
            client_id=settings.SLACK_CLIENT_ID,
            client_secret=settings.SLACK_CLIENT_SECRET,
            code=code,
            redirect_uri=redirect_uri(),
        )
    except SlackApiError as exc:
        raise errors.ValidationFailed(
            f"Slack refused the installation ({exc.response.get('error', 'error')}).",
            code="slack_refused",
        ) from None
    team = response.get("team") or {}
    enterprise = response.get("enterprise") or {}
    installation = Installation(
        app_id=response.get("app_id"),
        enterprise_id=enterprise.get("id"),
        enterprise_name=enterprise.get("name"),
        team_id=team.get("id"),
        team_name=team.get("name"),
        bot_token=response.get("access_token"),
        bot_id=response.get("bot_id") or (response.get("bot") or {}).get("bot_id"),
        bot_user_id=response.get("bot_user_id"),
        bot_scopes=response.get("scope", ""),
        user_id=(response.get("authed_user") or {}).get("id", ""),
        is_enterprise_install=bool(response.get("is_enterprise_install")),
        token_type=response.get("token_type"),
    )
    integration = installation_store.save_for(installation, organization=organization, user=user)
    with tenant_context(organization):
        audit_record(
            actor=Actor(user=user),
            action=AuditAction.INTEGRATION_CONNECTED,
            target=integration,
            changes={"provider": "slack", "workspace": integration.name},
        )
    return integration

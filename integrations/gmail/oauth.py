"""Connecting a member's Gmail with Google OAuth (google-auth-oauthlib).

``gmail_connect_url`` builds Google's consent URL: offline access (a refresh token),
``gmail.readonly`` and, when asked, ``gmail.compose`` (drafts), PKCE. Its ``state`` is
signed (Django's signing, 10 minutes) and names the organization and the member; the
PKCE verifier stays on the server (the cache, under the state's nonce). Google sends the
member back to the platform's one redirect URI, where ``gmail_connect_complete`` checks
the state (once: the nonce is spent with the verifier), exchanges the code through the
outbound policy, reads the mailbox's address and stores the refresh token encrypted.
"""

from __future__ import annotations

import logging
import os
import secrets

from django.conf import settings
from django.core import signing
from django.core.cache import caches
from django.db import transaction
from django_tenants.utils import tenant_context
from google_auth_oauthlib.flow import Flow
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from audit.models import AuditAction
from audit.services import Actor, audit_record
from core import crypto, errors, outbound
from integrations.gmail import client as gmail
from integrations.gmail.transport import policy_session
from integrations.models import GmailConnection, GmailStatus

# Google may grant fewer scopes than asked (the member unticks "compose"): requests-
# oauthlib would raise on the difference; the granted scopes are read and stored instead.
os.environ.setdefault("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")

# requests-oauthlib and oauthlib log the code exchange's body (the code, the PKCE
# verifier) and Google's answer (the tokens) at DEBUG: never, whatever the log level.
for _name in ("requests_oauthlib", "oauthlib"):
    logging.getLogger(_name).setLevel(logging.WARNING)

STATE_SALT = "integrations.gmail.oauth"
STATE_MAX_AGE = 600


def redirect_uri() -> str:
    port = f":{settings.SITE_PORT}" if settings.SITE_PORT else ""
    return (
        f"{settings.SITE_SCHEME}://{settings.BASE_DOMAIN}{port}/integrations/gmail/oauth/callback"
    )


def _require_configured() -> None:
    if not (settings.GOOGLE_OAUTH_CLIENT_ID and settings.GOOGLE_OAUTH_CLIENT_SECRET):
        raise errors.Conflict(
            "Gmail is not configured on this platform: the operator sets "
            "GOOGLE_OAUTH_CLIENT_ID and GOOGLE_OAUTH_CLIENT_SECRET.",
            code="gmail_not_configured",
        )


def _flow(*, scopes: list[str], code_verifier: str | None = None) -> Flow:
    flow = Flow.from_client_config(
        {
            "web": {
                "client_id": settings.GOOGLE_OAUTH_CLIENT_ID,
                "client_secret": settings.GOOGLE_OAUTH_CLIENT_SECRET,
                "auth_uri": settings.GOOGLE_OAUTH_AUTHORIZE_URL,
                "token_uri": settings.GOOGLE_OAUTH_TOKEN_URL,
            }
        },
        scopes=scopes,
        redirect_uri=redirect_uri(),
        code_verifier=code_verifier,
        autogenerate_code_verifier=code_verifier is None,
    )
    policy_session(flow.oauth2session)
    return flow


def gmail_connect_url(*, organization, user, compose: bool) -> str:
    _require_configured()
    scopes = [gmail.SCOPE_READONLY] + ([gmail.SCOPE_COMPOSE] if compose else [])
    nonce = secrets.token_urlsafe(16)
    state = signing.dumps(
        {"org": organization.pk, "user": user.pk, "nonce": nonce, "scopes": scopes},
        salt=STATE_SALT,
    )
    flow = _flow(scopes=scopes)
    url, _ = flow.authorization_url(
        access_type="offline", prompt="consent", include_granted_scopes="true", state=state
    )
    # The shared cache: the default one is per schema, and the callback arrives on the
    # platform's host (public schema) while this runs on the organization's.
    caches["shared"].set(f"gmail-oauth-verifier:{nonce}", flow.code_verifier, STATE_MAX_AGE)
    return url


def state_read(state: str) -> dict:
    """The organization, member and scopes a state names, with its PKCE verifier;
    raises ValidationFailed when it is forged, expired or already used."""
    try:
        data = signing.loads(state or "", salt=STATE_SALT, max_age=STATE_MAX_AGE)
    except signing.BadSignature:
        raise errors.ValidationFailed(
            "This Gmail connection link is invalid or expired. Start again from the "
            "Integrations page.",
            code="invalid_state",
        ) from None
    key = f"gmail-oauth-verifier:{data['nonce']}"
    verifier = caches["shared"].get(key)
    if verifier is None or not caches["shared"].delete(key):
        raise errors.ValidationFailed(
            "This Gmail connection link was already used.", code="invalid_state"
        )
    data["code_verifier"] = verifier
    return data


def gmail_connect_complete(*, code: str, state: dict, organization, user) -> GmailConnection:
    flow = _flow(scopes=state["scopes"], code_verifier=state["code_verifier"])
    try:
        flow.fetch_token(code=code)
    except (OAuth2Error, ValueError):
        raise errors.ValidationFailed(
            "Google refused the connection. Try again.", code="gmail_refused"
        ) from None
    except outbound.UnreachableAddress:
        raise gmail.GmailUnavailable("Google could not be reached.") from None
    credentials = flow.credentials
    if not credentials.refresh_token:
        raise errors.ValidationFailed(
            "Google sent no refresh token. Try again.", code="gmail_refused"
        )
    granted = sorted(credentials.granted_scopes or state["scopes"])
    if gmail.SCOPE_READONLY not in granted:
        raise errors.ValidationFailed(
            "Reading mail (gmail.readonly) is needed to sync a label.", code="gmail_scopes"
        )
    profile = gmail.execute(
        gmail.service_for_credentials(credentials).users().getProfile(userId="me")
    )
    with transaction.atomic():
        connection, _created = GmailConnection.objects.select_for_update().get_or_create(
            organization=organization,
            user=user,
            defaults={"email": profile["emailAddress"], "refresh_token_encrypted": ""},
        )
        if connection.email != profile["emailAddress"]:
            # Another mailbox: what was synced from the previous one starts over.
            connection.history_id = ""
            connection.threads.all().delete()
        connection.email = profile["emailAddress"]
        connection.scopes = granted
        connection.refresh_token_encrypted = crypto.encrypt(credentials.refresh_token)
        connection.status = GmailStatus.ACTIVE
        connection.last_error = ""
        # Connected again: the scheduled sync stops backing off and is due at once.
        connection.sync_failures = 0
        connection.next_sync_at = None
        connection.save()
    with tenant_context(organization):
        audit_record(
            actor=Actor(user=user),
            action=AuditAction.INTEGRATION_CONNECTED,
            target=connection,
            changes={"provider": "gmail", "mailbox": connection.email, "scopes": granted},
        )
    return connection

"""Teams authentication with the Agents SDK's pieces.

Incoming: every activity carries a JWT signed by the Bot Framework. ``TeamsTokenValidator``
is the SDK's ``JwtTokenValidator`` (PyJWT, RS256, the audience checked against the bot's
app id) with two things the SDK hard-codes made configurable and one it skips added:
the keys come from ``TEAMS_JWKS_URL`` (a local issuer's JWKS in tests), and the issuer
must be one of ``TEAMS_TOKEN_ISSUERS``.

Outgoing: replies go to the activity's ``serviceUrl`` through the SDK's connector client,
with an app token from ``TEAMS_TOKEN_URL`` (OAuth client credentials of the
organization's own bot), fetched through the outbound policy (core/outbound.py).
"""

from __future__ import annotations

import time

from django.conf import settings
from jwt import PyJWKClient, decode
from microsoft_agents.hosting.core.authorization import (
    AgentAuthConfiguration,
    ClaimsIdentity,
    JwtTokenValidator,
)
from microsoft_agents.hosting.core.authorization.access_token_provider_base import (
    AccessTokenProviderBase,
)

from core import crypto, outbound

_jwk_clients: dict[str, PyJWKClient] = {}


class InvalidTeamsToken(Exception):
    pass


class TeamsTokenValidator(JwtTokenValidator):
    async def _get_public_key_or_secret(self, token: str):
        from jwt import get_unverified_header

        header = get_unverified_header(token)
        url = settings.TEAMS_JWKS_URL
        client = _jwk_clients.get(url)
        if client is None:
            client = _jwk_clients[url] = PyJWKClient(url, cache_keys=True, lifespan=3600)
        return client.get_signing_key(header["kid"])

    async def validate_token(self, token: str) -> ClaimsIdentity:
        identity = await super().validate_token(token)
        issuer = identity.claims.get("iss")
        if issuer not in settings.TEAMS_TOKEN_ISSUERS:
            raise ValueError("Invalid issuer.")
        return identity


def unverified_audience(token: str) -> str:
    try:
        return str(decode(token, options={"verify_signature": False}).get("aud", ""))
    except Exception:
        return ""


async def validate_activity_token(*, token: str, app_id: str, service_url: str) -> ClaimsIdentity:
    """The token's claims, or InvalidTeamsToken: bad signature, expired, another
    audience or issuer, or a serviceUrl other than the one the Bot Framework signed."""
    validator = TeamsTokenValidator(AgentAuthConfiguration(client_id=app_id))
    try:
        identity = await validator.validate_token(token)
    except Exception as exc:
        raise InvalidTeamsToken(str(exc)) from None
    signed_url = identity.claims.get("serviceurl") or identity.claims.get("serviceUrl")
    if signed_url and signed_url.rstrip("/") != (service_url or "").rstrip("/"):
        raise InvalidTeamsToken("serviceUrl does not match the token.")
    return identity


class ClientCredentialsTokenProvider(AccessTokenProviderBase):
    """The bot's app token (client credentials), cached until shortly before expiry."""

    def __init__(self, *, app_id: str, app_password: str, tenant_id: str | None = None):
        self.app_id = app_id
        self.app_password = app_password
        self._token: tuple[str, float] | None = None

    async def get_access_token(self, resource_url: str, scopes: list[str], force_refresh=False):
        if self._token and not force_refresh and self._token[1] > time.time() + 60:
            return self._token[0]
        async with outbound.async_client(timeout=15) as client:
            response = await client.post(
                settings.TEAMS_TOKEN_URL,
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.app_id,
                    "client_secret": self.app_password,
                    "scope": (scopes or ["https://api.botframework.com/.default"])[0],
                },
            )
        if response.status_code != 200:
            raise PermissionError(
                f"The Teams bot's credentials were refused ({response.status_code})."
            )
        body = response.json()
        self._token = (body["access_token"], time.time() + int(body.get("expires_in", 3600)))
        return self._token[0]


class IntegrationConnections:
    """The SDK's ``Connections`` for one organization's bot."""

    def __init__(self, integration):
        self.provider = ClientCredentialsTokenProvider(
            app_id=integration.details.get("app_id") or integration.external_id,
            app_password=crypto.decrypt(integration.token_encrypted),
        )
        self.configuration = AgentAuthConfiguration(client_id=integration.external_id)

    def get_connection(self, connection_name: str):
        return self.provider

    def get_default_connection(self):
        return self.provider

    def get_token_provider(self, claims_identity, service_url: str):
        return self.provider

    def get_default_connection_configuration(self):
        return self.configuration

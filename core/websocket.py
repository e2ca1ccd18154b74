"""WebSocket connections: the organization from the host and the caller from the
session cookie or an API key (``Authorization: Bearer apk_...``), resolved the same
way HTTP requests are: at connect, and again by the consumer for every message.

Written out here rather than with Channels' AuthMiddlewareStack because that
closes database connections around every call, which would also end a test's
transaction; here the connection is released explicitly (outside transactions).
"""

from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, load_backend
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare
from django.utils.module_loading import import_string
from django_tenants.utils import get_tenant_domain_model, remove_www
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication

from core.access import Caller, ScopedKey
from core.api.authorization import caller_resolve
from core.connections import release_connection
from core.tenancy import public_hostnames


def _header(scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return ""


def _organization(host: str):
    hostname = remove_www(host.split(":")[0].lower().rstrip("."))
    if hostname in public_hostnames():
        return None
    domain = (
        get_tenant_domain_model().objects.select_related("tenant").filter(domain=hostname).first()
    )
    return domain.tenant if domain else None


def _api_key_user(scope, authorization: str) -> tuple:
    """(user, key) from ``Authorization: Bearer apk_...``, or (None, None): verified by
    the API's own key authentication (``REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]``,
    named in settings so the core imports no app), exactly as for an HTTP request."""
    from rest_framework.request import Request
    from rest_framework.settings import api_settings

    http = HttpRequest()
    http.META = {"HTTP_AUTHORIZATION": authorization, "REMOTE_ADDR": client_address(scope) or ""}
    request = Request(http)
    for authentication in api_settings.DEFAULT_AUTHENTICATION_CLASSES:
        if issubclass(authentication, SessionAuthentication):
            continue  # the cookie is read below, without CSRF (the Origin check stands in)
        try:
            result = authentication().authenticate(request)
        except exceptions.AuthenticationFailed:
            return None, None
        if result is not None and isinstance(result[1], ScopedKey):
            return result
    return None, None


def _login_session_key(cookie_header: str) -> str | None:
    cookies = SimpleCookie()
    cookies.load(cookie_header)
    morsel = cookies.get(settings.SESSION_COOKIE_NAME)
    return morsel.value if morsel is not None else None


def _user(session_key: str | None):
    if session_key is None:
        return AnonymousUser()
    session = import_string(settings.SESSION_ENGINE + ".SessionStore")(session_key)
    user_id, backend_path = session.get(SESSION_KEY), session.get(BACKEND_SESSION_KEY)
    if not user_id or backend_path not in settings.AUTHENTICATION_BACKENDS:
        return AnonymousUser()
    user = load_backend(backend_path).get_user(user_id)
    # A password change or logout elsewhere invalidates the session, as on HTTP.
    if user is None or not constant_time_compare(
        session.get(HASH_SESSION_KEY, ""), user.get_session_auth_hash()
    ):
        return AnonymousUser()
    return user


@dataclass(frozen=True)
class SocketIdentity:
    """Who a socket is: its caller (as an HTTP request on the same host with the same
    credentials would be) and the login session it came with (cookie), if any."""

    caller: Caller
    login_session_key: str | None = None


def resolve_socket(scope) -> SocketIdentity:
    """The socket's caller, resolved from its handshake (host, session cookie or
    ``Authorization: Bearer apk_...``) against the database as it is now: called at
    connect and again for every message, so nothing is trusted from an earlier check.
    A key on the platform's own host reaches its organization, as on HTTP."""
    try:
        host_organization = _organization(_header(scope, b"host"))
        authorization = _header(scope, b"authorization")
        if authorization:
            user, api_key = _api_key_user(scope, authorization)
            if api_key is None:
                return SocketIdentity(Caller(None, AnonymousUser(), None))
            organization = host_organization
            if organization is None and _is_public_host(_header(scope, b"host")):
                organization = api_key.organization
            return SocketIdentity(
                caller_resolve(organization=organization, user=user, api_key=api_key)
            )
        session_key = _login_session_key(_header(scope, b"cookie"))
        caller = caller_resolve(
            organization=host_organization, user=_user(session_key), api_key=None
        )
        return SocketIdentity(caller, session_key)
    finally:
        release_connection()


def client_address(scope) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


def _is_public_host(host: str) -> bool:
    return remove_www(host.split(":")[0]) in public_hostnames()


class OrganizationWebsocketMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        identity = await sync_to_async(resolve_socket)(scope)
        caller = identity.caller
        scope = {
            **scope,
            "socket_identity": identity,
            "tenant": caller.organization,
            "user": caller.user,
            "membership": caller.membership,
        }
        return await self.app(scope, receive, send)


def same_origin(origin: str, host: str, *, secure: bool) -> bool:
    """Whether a browser's Origin names exactly the host and port the socket was opened
    on (a sibling organization's subdomain is another site, though ALLOWED_HOSTS covers
    both). `secure`: the socket is wss, so a Host without a port means 443."""
    try:
        parts = urlsplit(origin)
        origin_port = parts.port or (443 if parts.scheme == "https" else 80)
        requested = urlsplit(f"//{host}")
        host_port = requested.port or (443 if secure else 80)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname or not requested.hostname:
        return False
    return parts.hostname.rstrip(".") == requested.hostname.rstrip(".") and origin_port == host_port


class BrowserOriginValidator:
    """Refuse sockets opened by other sites with a user's cookies (their Origin is
    not exactly the host they connect to). Clients that send no Origin are not browsers
    and carry no ambient cookies, so they are let through to authenticate like any other."""

    def __init__(self, app):
        from channels.security.websocket import AllowedHostsOriginValidator

        self.app = app
        self.checked = AllowedHostsOriginValidator(app)

    async def __call__(self, scope, receive, send):
        origin = _header(scope, b"origin")
        if not origin:
            return await self.app(scope, receive, send)
        secure = scope.get("scheme") == "wss"
        if not same_origin(origin, _header(scope, b"host"), secure=secure):
            from channels.security.websocket import WebsocketDenier

            return await WebsocketDenier()(scope, receive, send)
        return await self.checked(scope, receive, send)

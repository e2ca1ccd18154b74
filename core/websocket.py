"""WebSocket connections: the organization from the host and the user from the
session cookie, resolved once per connection, the same way HTTP requests are.

Written out here rather than with Channels' AuthMiddlewareStack because that
closes database connections around every call, which would also end a test's
transaction; here the connection is released explicitly (outside transactions).
"""

from http.cookies import SimpleCookie
from urllib.parse import urlsplit

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, load_backend
from django.contrib.auth.models import AnonymousUser
from django.utils.crypto import constant_time_compare
from django.utils.module_loading import import_string
from django_tenants.utils import get_tenant_domain_model, remove_www

from core.access import membership_model
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


def _user(cookie_header: str):
    cookies = SimpleCookie()
    cookies.load(cookie_header)
    morsel = cookies.get(settings.SESSION_COOKIE_NAME)
    if morsel is None:
        return AnonymousUser()
    session = import_string(settings.SESSION_ENGINE + ".SessionStore")(morsel.value)
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


def resolve_connection(scope) -> tuple:
    """(organization, user, membership) for a WebSocket scope; None where unknown."""
    try:
        organization = _organization(_header(scope, b"host"))
        user = _user(_header(scope, b"cookie"))
        membership = None
        if organization is not None and user.is_authenticated:
            membership = (
                membership_model().objects.filter(organization=organization, user=user).first()
            )
        return organization, user, membership
    finally:
        release_connection()


class OrganizationWebsocketMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        organization, user, membership = await sync_to_async(resolve_connection)(scope)
        scope = {**scope, "tenant": organization, "user": user, "membership": membership}
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

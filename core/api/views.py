"""The base API views. Every endpoint derives from exactly one of them.

``OrganizationAPIView`` resolves the organization (from the host, by the
tenant middleware) and the caller's membership once per request, then checks
the role the HTTP method needs:

    viewer  reads (GET, HEAD, OPTIONS)
    member  writes content (POST, PUT, PATCH, DELETE)
    admin   manages members and settings (set ``required_roles``)

A caller who is not a member of the organization gets 404, exactly as for a
missing object, so nobody learns which organizations exist.

Programs call with an API key instead of a session. A key acts as a member of
its organization (as an admin with the ``admin`` scope) and may only use the
endpoints its scopes allow: every organization view declares the scope each
method needs, with ``api_scope`` (a resource: reads need ``<resource>:read``,
writes ``<resource>:write``) or ``api_scopes`` (per method). A test walks every
URL and fails on an undeclared one. Endpoints that
need no organization say so by deriving from ``PublicAPIView`` or
``AuthenticatedAPIView``: the bypass is spelled out, never implied.
"""

from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django_tenants.utils import get_public_schema_name
from rest_framework import exceptions, generics
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.views import APIView

from core.access import Caller, Role, Scope, ScopedKey
from core.api.authentication import SessionAuthentication
from core.api.authorization import (  # ANY_SCOPE: views declare it from here
    ANY_SCOPE,
    Requirement,
    authorize,
    caller_resolve,
    throttle,
)
from core.api.request_errors import read_request_body

READ_METHODS = ("GET", "HEAD", "OPTIONS")


def reject_null_characters(request, kwargs) -> None:
    """PostgreSQL cannot store or compare NUL characters; refuse them up front (400)
    instead of failing in the database (500). DRF's CharField does this for bodies."""
    bad = {
        name: ["Null characters are not allowed."]
        for name, value in request.query_params.lists()
        if any("\x00" in v for v in value)
    }
    bad |= {
        name: ["Null characters are not allowed."]
        for name, value in kwargs.items()
        if isinstance(value, str) and "\x00" in value
    }
    if bad:
        raise exceptions.ValidationError(bad)


class OrganizationAccess(BasePermission):
    """Membership of the host's organization, with the role the method requires:
    ``core.api.authorization.authorize``, the check the chat socket makes too."""

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            raise exceptions.NotAuthenticated()
        view.resolve_membership(request)
        caller = view.caller
        requirement = view.requirement(request.method, for_api_key=caller.api_key is not None)
        authorize(caller=caller, requirement=requirement)
        return True


class OrganizationViewMixin:
    """Shared by the plain and generic organization views."""

    permission_classes = [OrganizationAccess]
    # Minimum role per method; subclasses override entries (e.g. admin-only writes).
    required_roles: dict[str, str] = {}
    default_read_role = Role.VIEWER
    default_write_role = Role.MEMBER
    # The API-key scope each method needs (see the module docstring).
    api_scope: str | None = None
    api_scopes: dict[str, str] = {}
    # False for endpoints about a person (e.g. /me): API keys get 403 there.
    api_keys_allowed = True
    # True where a person who must still set up two-factor authentication may call.
    two_factor_exempt = False

    def required_role(self, method: str) -> str:
        if method in self.required_roles:
            return self.required_roles[method]
        return self.default_read_role if method in READ_METHODS else self.default_write_role

    def required_scope(self, method: str) -> str:
        if method == "HEAD" and "HEAD" not in self.api_scopes:
            method = "GET"
        if method != "OPTIONS" and not hasattr(self, method.lower()):
            return ANY_SCOPE  # the view answers 405 Method Not Allowed
        if method in self.api_scopes:
            return self.api_scopes[method]
        if self.api_scope in Scope.values:  # one scope for every method (e.g. admin)
            return self.api_scope
        if self.api_scope is not None and method != "OPTIONS":
            return f"{self.api_scope}:{'read' if method in READ_METHODS else 'write'}"
        if method == "OPTIONS":
            return self.required_scope("GET") if self._declares("GET") else Scope.ADMIN
        raise ImproperlyConfigured(f"{type(self).__name__} declares no API scope for {method}.")

    def _declares(self, method: str) -> bool:
        return method in self.api_scopes or self.api_scope is not None

    @property
    def api_key(self) -> ScopedKey | None:
        auth = getattr(self.request, "auth", None)
        return auth if isinstance(auth, ScopedKey) else None

    def requirement(self, method: str, *, for_api_key: bool) -> Requirement:
        """What ``method`` needs; the scope is looked up for keys only (an endpoint
        about a person declares none)."""
        needs_scope = for_api_key and self.api_keys_allowed
        return Requirement(
            role=self.required_role(method),
            scope=self.required_scope(method) if needs_scope else ANY_SCOPE,
            api_keys_allowed=self.api_keys_allowed,
            two_factor_exempt=self.two_factor_exempt,
        )

    def allowed_assistant_ids(self) -> list | None:
        """The assistants an API key is restricted to; None: no restriction."""
        return self.caller.allowed_assistant_ids

    def resolve_membership(self, request):
        """Find the organization and the caller's membership, once per request."""
        if hasattr(request, "caller"):
            return request.caller.membership
        organization = getattr(request, "tenant", None)
        if organization is None or connection.schema_name == get_public_schema_name():
            organization = None
        caller = caller_resolve(organization=organization, user=request.user, api_key=self.api_key)
        request.caller = caller
        request.membership = caller.membership
        request.organization = caller.organization
        return caller.membership

    @property
    def caller(self) -> Caller:
        if not hasattr(self.request, "caller"):
            self.resolve_membership(self.request)
        return self.request.caller

    def check_throttles(self, request):
        # The same function the chat socket counts its messages with.
        throttle(call=request, throttles=self.get_throttles(), view=self)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        reject_null_characters(request, kwargs)
        read_request_body(request)

    @property
    def organization(self):
        return self.request.organization

    @property
    def membership(self):
        return self.request.membership


class OrganizationAPIView(OrganizationViewMixin, APIView):
    pass


class OrganizationGenericAPIView(OrganizationViewMixin, generics.GenericAPIView):
    pass


class AuthenticatedAPIView(APIView):
    """Needs a logged-in person but no membership (e.g. accepting an invitation).
    API keys are not accepted: they belong to an organization, not a person."""

    permission_classes = [IsAuthenticated]
    authentication_classes = [SessionAuthentication]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        read_request_body(request)


class PublicAPIView(APIView):
    """Open to anyone (sign-up). Keep these few and throttled."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        reject_null_characters(request, kwargs)
        read_request_body(request)

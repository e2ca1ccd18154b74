"""The base API views. Every endpoint derives from exactly one of them.

``OrganizationAPIView`` resolves the organization (from the host, by the
tenant middleware) and the caller's membership once per request, then checks
the role the HTTP method needs:

    viewer  reads (GET, HEAD, OPTIONS)
    member  writes content (POST, PUT, PATCH, DELETE)
    admin   manages members and settings (set ``required_roles``)

A caller who is not a member of the organization gets 404, exactly as for a
missing object, so nobody learns which organizations exist. Endpoints that
need no organization say so by deriving from ``PublicAPIView`` or
``AuthenticatedAPIView``: the bypass is spelled out, never implied.
"""

from django.db import connection
from django_tenants.utils import get_public_schema_name
from rest_framework import exceptions, generics
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.views import APIView

from users.models import Membership, Role

READ_METHODS = ("GET", "HEAD", "OPTIONS")


def reject_null_characters(request, kwargs) -> None:
    """PostgreSQL cannot store or compare NUL characters; refuse them up front (400)
    instead of failing in the database (500). DRF's CharField does this for bodies."""
    bad = {name: ["Null characters are not allowed."] for name, value in request.query_params.lists()
           if any("\x00" in v for v in value)}  # fmt: skip
    bad |= {name: ["Null characters are not allowed."] for name, value in kwargs.items()
            if isinstance(value, str) and "\x00" in value}  # fmt: skip
    if bad:
        raise exceptions.ValidationError(bad)


class OrganizationAccess(BasePermission):
    """Membership of the host's organization, with the role the method requires."""

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            raise exceptions.NotAuthenticated()
        membership = view.resolve_membership(request)
        if membership is None:
            raise exceptions.NotFound()
        if not membership.has_role(view.required_role(request.method)):
            raise exceptions.PermissionDenied(
                f"Your role ({membership.role}) does not allow this action."
            )
        return True


class OrganizationViewMixin:
    """Shared by the plain and generic organization views."""

    permission_classes = [OrganizationAccess]
    # Minimum role per method; subclasses override entries (e.g. admin-only writes).
    required_roles: dict[str, str] = {}
    default_read_role = Role.VIEWER
    default_write_role = Role.MEMBER

    def required_role(self, method: str) -> str:
        if method in self.required_roles:
            return self.required_roles[method]
        return self.default_read_role if method in READ_METHODS else self.default_write_role

    def resolve_membership(self, request) -> Membership | None:
        """Find the organization and the caller's membership, once per request."""
        if hasattr(request, "membership"):
            return request.membership
        organization = getattr(request, "tenant", None)
        membership = None
        if organization is not None and connection.schema_name != get_public_schema_name():
            membership = (
                Membership.objects.select_related("organization")
                .filter(organization=organization, user=request.user)
                .first()
            )
        request.membership = membership
        request.organization = organization if membership else None
        return membership

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        reject_null_characters(request, kwargs)

    @property
    def organization(self):
        return self.request.organization

    @property
    def membership(self) -> Membership:
        return self.request.membership


class OrganizationAPIView(OrganizationViewMixin, APIView):
    pass


class OrganizationGenericAPIView(OrganizationViewMixin, generics.GenericAPIView):
    pass


class AuthenticatedAPIView(APIView):
    """Needs a logged-in user but no membership (e.g. accepting an invitation)."""

    permission_classes = [IsAuthenticated]


class PublicAPIView(APIView):
    """Open to anyone (sign-up). Keep these few and throttled."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        reject_null_characters(request, kwargs)

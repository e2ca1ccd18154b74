"""Finding the organization of a request, and failing closed without one."""

from django.conf import settings
from django.db import connection
from django_tenants.middleware.main import TenantMainMiddleware
from django_tenants.utils import get_public_schema_name, get_tenant_model, remove_www


class TenantRequiredError(RuntimeError):
    """Code that needs an organization's schema ran in the public schema."""


def require_tenant_schema() -> str:
    """Return the current schema name, or raise when it is the public schema."""
    schema = connection.schema_name
    if schema == get_public_schema_name():
        raise TenantRequiredError(
            "This code needs an organization's schema but runs in the public schema."
        )
    return schema


def public_hostnames() -> set[str]:
    base = settings.BASE_DOMAIN
    extra = set(settings.PUBLIC_HOSTS)
    return {base, f"www.{base}", *extra}


class OrganizationMiddleware(TenantMainMiddleware):
    """django-tenants' host lookup, with the platform's own hosts mapped to public.

    The public site (BASE_DOMAIN, www.BASE_DOMAIN) needs no Domain rows, so
    changing BASE_DOMAIN between environments needs no data migration.
    """

    @staticmethod
    def hostname_from_request(request):
        # Host names are case-insensitive (RFC 9110) and may end with the root's dot.
        return remove_www(request.get_host().split(":")[0].lower().rstrip("."))

    def get_tenant(self, domain_model, hostname):
        if hostname in public_hostnames():
            return get_tenant_model().objects.get(schema_name=get_public_schema_name())
        return super().get_tenant(domain_model, hostname)


def current_organization():
    """The Organization whose schema is active (raises in public).

    ``connection.tenant`` is the Organization under the middleware and in tasks,
    but a placeholder under ``schema_context``; look it up then.
    """
    schema = require_tenant_schema()
    tenant = getattr(connection, "tenant", None)
    model = get_tenant_model()
    if isinstance(tenant, model):
        return tenant
    return model.objects.get(schema_name=schema)

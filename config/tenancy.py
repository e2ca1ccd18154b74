"""Finding the organization of a request, and failing closed without one."""

from django.conf import settings
from django.db import connection
from django.urls import set_urlconf
from django_tenants.middleware.main import TenantMainMiddleware
from django_tenants.utils import get_public_schema_name, get_tenant_model


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

    def get_tenant(self, domain_model, hostname):
        if hostname in public_hostnames():
            return get_tenant_model().objects.get(schema_name=get_public_schema_name())
        return super().get_tenant(domain_model, hostname)

    def process_request(self, request):
        response = super().process_request(request)
        if response is None and request.tenant.schema_name == get_public_schema_name():
            response = self.route_by_api_key(request)
        return response

    def route_by_api_key(self, request):
        """On the platform's own host, an API key decides the organization:
        ``Authorization: Bearer apk_...`` reaches the key's organization's API.
        (On an organization's host the host decides, and another organization's
        key is refused there like any non-member: 404.)"""
        if not request.path.startswith("/api/"):
            return None
        from integrations.authentication import bearer_token
        from integrations.services import api_key_verify, looks_like_api_key

        token = bearer_token(request)
        if token is None or not looks_like_api_key(token):
            return None
        api_key = api_key_verify(token)
        if api_key is None:
            from config.api.errors import api_error_response

            response = api_error_response(
                401, "authentication_failed", "Invalid, expired or revoked API key."
            )
            response["WWW-Authenticate"] = 'Bearer realm="api"'
            return response
        request.api_key = api_key
        request.tenant = api_key.organization
        request.tenant.domain_url = request.tenant.host
        connection.set_tenant(request.tenant)
        # Undo the public site's URLs chosen for this host: the organization's apply.
        if hasattr(request, "urlconf"):
            del request.urlconf
        set_urlconf(None)
        self.setup_url_routing(request)
        return None


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

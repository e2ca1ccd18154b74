"""The tenant middleware, with API keys routing requests on the platform's own host.

Host routing is the core's (core/tenancy.py); only this app knows API keys, so the
key lookup plugs in here, one layer up, and the core imports no domain app.
"""

from django.db import connection
from django.urls import set_urlconf
from django_tenants.utils import get_public_schema_name

from audit.services import client_ip
from core.api.errors import api_error_response
from core.tenancy import OrganizationMiddleware
from integrations.authentication import bearer_token
from integrations.services import (
    TooManyKeyFailures,
    api_key_authenticate,
    looks_like_api_key,
)


class APIKeyOrganizationMiddleware(OrganizationMiddleware):
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
        token = bearer_token(request)
        if token is None or not looks_like_api_key(token):
            return None
        try:
            api_key = api_key_authenticate(token, client_address=client_ip(request))
        except TooManyKeyFailures as exc:
            response = api_error_response(
                429, "throttled", f"Too many requests. Retry in {exc.retry_after} seconds."
            )
            response["Retry-After"] = str(exc.retry_after)
            return response
        if api_key is None:
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

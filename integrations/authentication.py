"""``Authorization: Bearer apk_...``: a program calling the API with a key."""

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from audit.services import client_ip
from integrations.services import TooManyKeyFailures, api_key_authenticate, api_key_touch


class APIKeyUser(AnonymousUser):
    """``request.user`` of a request made with an API key: authenticated, but not a
    person (no id), so nothing records it as an author; ``api_key`` says who it is."""

    def __init__(self, api_key):
        self.api_key = api_key

    @property
    def is_authenticated(self):
        return True

    @property
    def is_anonymous(self):
        return False

    def __str__(self):
        return f"API key {self.api_key.prefix}"


def bearer_token(request) -> str | None:
    header = authentication.get_authorization_header(request).decode("latin-1")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


class APIKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        token = bearer_token(request)
        if token is None:
            return None
        django_request = request._request
        # The tenant middleware has verified (and routed by) the key already
        # when it arrived on the platform's own host.
        api_key = getattr(django_request, "api_key", None)
        if api_key is None:
            try:
                api_key = api_key_authenticate(token, client_address=client_ip(django_request))
            except TooManyKeyFailures as exc:
                raise exceptions.Throttled(wait=exc.retry_after) from None
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked API key.")
        api_key_touch(api_key=api_key, ip_address=client_ip(django_request))
        django_request.api_key = api_key
        return APIKeyUser(api_key), api_key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class APIKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "integrations.authentication.APIKeyAuthentication"
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key: `Authorization: Bearer apk_...`. Routes the request "
            "to the key's organization on the platform's own host.",
        }

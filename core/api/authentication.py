from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication


class SessionAuthentication(authentication.SessionAuthentication):
    """Django sessions (the dashboard), answering 401 rather than 403 when absent.

    API keys (programs) will be added in front of this class in
    REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]; the base views need no change.
    """

    def authenticate_header(self, request):
        return 'Session realm="api"'


class SessionAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents the session cookie in the OpenAPI schema."""

    target_class = "core.api.authentication.SessionAuthentication"
    name = "sessionAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}

"""URL patterns shared by the public and the organization hosts."""

from django.urls import path
from drf_spectacular.utils import extend_schema, extend_schema_view
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)


# The schema and its viewer describe the API; they are not part of it.
@extend_schema_view(get=extend_schema(exclude=True))
class HostSchemaView(SpectacularAPIView):
    """The schema of the host asked: organization hosts and the public site route
    different URLs (django-tenants sets ``request.urlconf``)."""

    def get(self, request, *args, **kwargs):
        self.urlconf = getattr(request, "urlconf", None)
        return super().get(request, *args, **kwargs)


@extend_schema_view(get=extend_schema(exclude=True))
class DocsView(SpectacularSwaggerSplitView):
    """Swagger UI with its start-up script as a file (?script), not inline: the page
    runs under a Content-Security-Policy without 'unsafe-inline' scripts."""


@extend_schema_view(get=extend_schema(exclude=True))
class RedocView(SpectacularRedocView):
    pass


schema_urlpatterns = [
    path("api/schema/", HostSchemaView.as_view(), name="api-schema"),
    path("api/docs/", DocsView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", RedocView.as_view(url_name="api-schema"), name="api-redoc"),
]

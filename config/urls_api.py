"""URL patterns shared by the public and the organization hosts."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

schema_urlpatterns = [
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

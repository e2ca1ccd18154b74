"""URLs of an organization's host (acme.<BASE_DOMAIN>)."""

from django.urls import include, path

from config.urls_api import schema_urlpatterns
from core.admin_site import organization_admin_site
from users.spa import account_redirects, spa_urlpatterns

urlpatterns = [
    path("admin/", organization_admin_site.urls),
    # Old confirmation links lead to the app's page, not allauth's unstyled one.
    *account_redirects,
    path("accounts/", include("allauth.urls")),
    path("_allauth/", include("allauth.headless.urls")),
    path("api/v1/", include("users.api.urls")),
    path("api/v1/", include("assistants.api.urls")),
    path("api/v1/", include("knowledge_base.api.urls")),
    path("api/v1/", include("chat.api.urls")),
    path("api/v1/", include("integrations.api.urls")),
    path("api/v1/", include("billing.api.urls")),
    path("api/v1/", include("audit.api.urls")),
    path("api/v1/", include("files.api.urls")),
    path("api/v1/", include("prompts.api.urls")),
    path("api/v1/", include("workflows.api.urls")),
    path("", include("users.urls")),
    # The embeddable widget's loader and visitor API (integrations/widget).
    path("", include("integrations.widget.urls")),
    *schema_urlpatterns,
    # Last: every other path is a route of the dashboard app (frontend/).
    *spa_urlpatterns,
]

handler400 = "core.error_pages.bad_request"
handler404 = "core.error_pages.not_found"
handler500 = "core.error_pages.server_error"

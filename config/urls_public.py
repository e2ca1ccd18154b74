"""URLs of the public site (<BASE_DOMAIN>): sign-up, platform admin, docs."""

from django.contrib import admin
from django.urls import include, path

from billing.api.webhook import stripe_webhook
from config.urls_api import schema_urlpatterns
from users.spa import account_redirects, spa_urlpatterns

urlpatterns = [
    path("admin/", admin.site.urls),
    # Old confirmation links lead to the app's page, not allauth's unstyled one.
    *account_redirects,
    path("accounts/", include("allauth.urls")),
    path("_allauth/", include("allauth.headless.urls")),
    path("api/v1/", include("users.api.urls_public")),
    # Stripe calls this one address for every organization (docs/billing.md).
    path("billing/stripe/webhook", stripe_webhook, name="stripe-webhook"),
    # Slack and Teams call these for every organization (docs/integrations.md).
    path("integrations/", include("integrations.bot_urls")),
    path("", include("users.urls_public")),
    *schema_urlpatterns,
    # Last: every other path (/, /signup, /login, ...) is a route of the app (frontend/).
    *spa_urlpatterns,
]

handler400 = "core.error_pages.bad_request"
handler404 = "core.error_pages.not_found"
handler500 = "core.error_pages.server_error"

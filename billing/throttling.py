"""Request rate limits per API key and per organization, from the plan.

Counting is django-ratelimit's (fixed windows, atomic ``add``/``incr`` on the
shared Redis cache), wrapped as DRF throttles so that a refusal is DRF's 429
with Retry-After in the common error format.
"""

from django.conf import settings
from django_ratelimit.core import get_usage
from rest_framework import throttling

from billing.plans import plan_for
from core.access import ScopedKey


def _api_key(request):
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, ScopedKey) else None


def _organization(request):
    tenant = getattr(request, "tenant", None)
    if tenant is None or getattr(tenant, "is_public", True):
        return None
    return tenant


class UserRateThrottle(throttling.UserRateThrottle):
    """DRF's per-user limit for people; API keys have their own (below)."""

    def get_cache_key(self, request, view):
        if _api_key(request) is not None:
            return None
        return super().get_cache_key(request, view)


class _PlanRateThrottle(throttling.BaseThrottle):
    group = ""

    def subject(self, request) -> tuple[str, int | None] | None:
        """(counter key, requests per minute), or None when this limit does not apply."""
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        subject = self.subject(request)
        if subject is None or subject[1] is None:
            return True
        value, per_minute = subject
        usage = get_usage(
            request,
            group=self.group,
            key=lambda group, request: value,
            rate=f"{per_minute}/{settings.RATE_LIMIT_WINDOW_SECONDS}s",
            increment=True,
        )
        if usage is None or not usage["should_limit"]:
            return True
        # django-ratelimit's windows end at the end of second ``time_left`` from now.
        self._wait = usage["time_left"] + 1
        return False

    def wait(self):
        return getattr(self, "_wait", None)


class APIKeyRateThrottle(_PlanRateThrottle):
    group = "api-key"

    def subject(self, request):
        key = _api_key(request)
        if key is None:
            return None
        return str(key.pk), plan_for(key.organization).key_requests_per_minute


class OrganizationRateThrottle(_PlanRateThrottle):
    """Every API request to an organization, whoever makes it."""

    group = "organization"

    def subject(self, request):
        organization = _organization(request)
        if organization is None:
            return None
        return str(organization.pk), plan_for(organization).requests_per_minute

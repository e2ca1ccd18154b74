"""Request rate limits per API key and per organization, from the plan.

Counting is django-ratelimit's (fixed windows, atomic ``add``/``incr`` on the
shared Redis cache), wrapped as DRF throttles so that a refusal is DRF's 429
with Retry-After in the common error format.

While Redis is unreachable these limits fail open (the request is let through and
the outage logged): refusing every request because a counter cannot be read would
turn a cache outage into a full outage, and what costs money (AI tokens and spend)
stays bounded by the monthly quotas, counted in PostgreSQL. The sign-up limit
(DRF's ScopedRateThrottle, anonymous callers) fails closed instead: 503.
See docs/adr/0014-outages-and-malformed-requests.md.
"""

import logging
import time

import redis
from django.conf import settings
from django.core.cache import caches
from django_ratelimit import ALL
from django_ratelimit.core import EXPIRATION_FUDGE, _get_window, _make_cache_key, get_usage
from rest_framework import throttling

from billing.plans import plan_for
from core.access import ScopedKey

logger = logging.getLogger(__name__)


class FailOpenWhenRedisIsDown:
    """A throttle whose counter is in Redis lets requests through while Redis is down."""

    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            logger.warning(
                "rate limit %s not applied, Redis unavailable: %s", type(self).__name__, exc
            )
            return True


class AnonRateThrottle(FailOpenWhenRedisIsDown, throttling.AnonRateThrottle):
    pass


def _api_key(request):
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, ScopedKey) else None


def _organization(request):
    tenant = getattr(request, "tenant", None)
    if tenant is None or getattr(tenant, "is_public", True):
        return None
    return tenant


class UserRateThrottle(FailOpenWhenRedisIsDown, throttling.UserRateThrottle):
    """DRF's per-user limit for people; API keys have their own (below)."""

    def get_cache_key(self, request, view):
        if _api_key(request) is not None:
            return None
        return super().get_cache_key(request, view)


class _PlanRateThrottle(throttling.BaseThrottle):
    group = ""
    # core.api.authorization.throttle counts throttles that say so in one Redis round
    # trip (count_together) before asking each whether it allows the call.
    counts_together = True

    def subject(self, request) -> tuple[str, int | None] | None:
        """(counter key, requests per minute), or None when this limit does not apply."""
        raise NotImplementedError

    def _rate(self, per_minute: int) -> str:
        return f"{per_minute}/{settings.RATE_LIMIT_WINDOW_SECONDS}s"

    @staticmethod
    def count_together(request, throttles: list) -> None:
        """Count every applicable plan limit of ``request`` in one Redis round trip
        instead of two per limit (django-ratelimit's add, then incr): the same keys,
        windows and expiry as ``get_usage``, so either path counts the same counter.
        Each throttle keeps its count for ``allow_request``; on a Redis error nothing is
        kept and each throttle counts (and fails open) on its own."""
        counted = []
        for throttle in throttles:
            subject = throttle.subject(request)
            if subject is None or subject[1] is None:
                continue
            value, per_minute = subject
            rate = throttle._rate(per_minute)
            window = _get_window(value, settings.RATE_LIMIT_WINDOW_SECONDS)
            key = _make_cache_key(throttle.group, window, rate, value, ALL)
            counted.append((throttle, per_minute, window, key))
        if len(counted) < 2:
            return
        cache = caches[settings.RATELIMIT_USE_CACHE]
        keys = [cache.make_and_validate_key(key) for _, _, _, key in counted]
        try:
            pipeline = cache._cache.get_client(keys[0], write=True).pipeline(transaction=False)
            for key in keys:
                pipeline.set(
                    key, 0, ex=settings.RATE_LIMIT_WINDOW_SECONDS + EXPIRATION_FUDGE, nx=True
                )
                pipeline.incr(key)
            replies = pipeline.execute()
        except (redis.ConnectionError, redis.TimeoutError):
            return
        for (throttle, per_minute, window, _), count in zip(counted, replies[1::2], strict=True):
            throttle._counted = (int(count), per_minute, window)

    def allow_request(self, request, view) -> bool:
        counted = getattr(self, "_counted", None)
        if counted is not None:
            count, limit, window = counted
            self._counted = None
            if count <= limit:
                return True
            # The window ends at the end of second ``window - now`` from now.
            self._wait = window - int(time.time()) + 1
            return False
        subject = self.subject(request)
        if subject is None or subject[1] is None:
            return True
        value, per_minute = subject
        usage = get_usage(
            request,
            group=self.group,
            key=lambda group, request: value,
            rate=self._rate(per_minute),
            increment=True,
        )
        if usage is None or not usage["should_limit"]:
            return True
        # django-ratelimit's windows end at the end of second ``time_left`` from now.
        self._wait = usage["time_left"] + 1
        return False

    def wait(self):
        return getattr(self, "_wait", None)


class APIKeyRateThrottle(FailOpenWhenRedisIsDown, _PlanRateThrottle):
    group = "api-key"

    def subject(self, request):
        key = _api_key(request)
        if key is None:
            return None
        return str(key.pk), plan_for(key.organization).key_requests_per_minute


class OrganizationRateThrottle(FailOpenWhenRedisIsDown, _PlanRateThrottle):
    """Every API request to an organization, whoever makes it."""

    group = "organization"

    def subject(self, request):
        organization = _organization(request)
        if organization is None:
            return None
        return str(organization.pk), plan_for(organization).requests_per_minute

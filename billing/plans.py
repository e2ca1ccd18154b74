"""Which plan an organization is on (read on every API request: cached briefly)."""

from __future__ import annotations

import time

from django.conf import settings

from billing.models import Plan

# Plans change rarely and by hand; a process re-reads them at most this often.
PLAN_CACHE_SECONDS = 30
_cache: dict[str, tuple[float, Plan]] = {}


def plan_for(organization) -> Plan:
    """The organization's plan; the default plan when its code names no Plan row."""
    code = getattr(organization, "plan", "") or settings.BILLING_DEFAULT_PLAN
    cached = _cache.get(code)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    plan = (
        Plan.objects.filter(code=code).first()
        or Plan.objects.filter(code=settings.BILLING_DEFAULT_PLAN).first()
        or Plan(code=code, name=code.title())  # no rows at all: unlimited
    )
    _cache[code] = (time.monotonic() + PLAN_CACHE_SECONDS, plan)
    return plan


def plan_cache_clear() -> None:
    _cache.clear()

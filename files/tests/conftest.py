import uuid

import pytest

from billing.models import Plan
from billing.plans import plan_cache_clear
from users.models import Organization


@pytest.fixture
def use_plan(org_a):
    """Put organization alpha on a plan with the given limits (for this test only)."""

    def apply(**limits) -> Plan:
        plan = Plan.objects.create(code=f"t-{uuid.uuid4().hex[:8]}", name="Tight", **limits)
        Organization.objects.filter(pk=org_a.organization.pk).update(plan=plan.code)
        plan_cache_clear()
        return plan

    yield apply
    plan_cache_clear()

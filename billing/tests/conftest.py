import uuid

import pytest
from django_tenants.utils import schema_context

from assistants import services as assistant_services
from billing.models import Plan
from billing.plans import plan_cache_clear
from tests.factories import make_assistant
from tests.helpers import GOOD_KEY
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


@pytest.fixture
def openai_helper(org_a, provider_server):
    """An assistant of alpha on OpenAI's protocol (the local server), no knowledge."""
    with schema_context(org_a.slug):
        assistant_services.credential_create(
            provider="openai", api_key=GOOD_KEY, base_url=f"{provider_server.url}/v1"
        )
    return make_assistant(org_a, "openai/gpt-4o-mini", with_knowledge=False)

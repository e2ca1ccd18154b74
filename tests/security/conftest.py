"""Fixtures of the security regressions (issue 12): sockets, keys, assistants."""

import uuid

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from assistants import services as assistant_services
from assistants.catalog.models import AIModel
from billing.models import Plan
from billing.plans import plan_cache_clear
from users.models import Organization


@pytest.fixture
def keep_test_transaction(monkeypatch):
    """Channels closes "old" connections before each handler, which inside a test's
    transaction would end it; Django's test client disconnects the same hook for
    the same reason. Production keeps Channels' behaviour."""

    async def keep():
        return None

    monkeypatch.setattr("channels.consumer.aclose_old_connections", keep)
    monkeypatch.setattr("channels.generic.websocket.aclose_old_connections", keep)


def new_assistant(org, name: str):
    """An assistant answering offline (the extractive model), without knowledge."""
    with schema_context(org.slug):
        return assistant_services.assistant_create(
            user=org.admin,
            name=name,
            collections=[],
            model=AIModel.objects.get(provider="local", model_id="extractive"),
        )


@pytest.fixture
def assistants(org_a):
    """Two assistants of alpha: A and B."""
    return new_assistant(org_a, "Assistant A"), new_assistant(org_a, "Assistant B")


def logged_in_client(org, user) -> Client:
    client = Client(HTTP_HOST=org.host)
    client.force_login(user)
    return client


def session_cookie(client: Client) -> str:
    return f"sessionid={client.cookies['sessionid'].value}"


@pytest.fixture
def use_plan(org_a):
    """Put alpha on a plan with the given limits (for this test only)."""

    def apply(**limits) -> Plan:
        plan = Plan.objects.create(code=f"t-{uuid.uuid4().hex[:8]}", name="Tight", **limits)
        Organization.objects.filter(pk=org_a.organization.pk).update(plan=plan.code)
        plan_cache_clear()
        return plan

    yield apply
    plan_cache_clear()

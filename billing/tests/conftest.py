import json
import uuid
from decimal import Decimal

import pytest
from django_tenants.utils import schema_context

from assistants import services as assistant_services
from billing.models import Plan
from billing.plans import plan_cache_clear
from billing.webhooks import event_process
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


def fresh(org) -> Organization:
    """The organization as the database has it now (its plan may have changed)."""
    return Organization.objects.get(pk=org.organization.pk)


# -- Stripe ---------------------------------------------------------------------------

TEAM_MONTHLY, TEAM_ANNUAL, TEAM_METERED = "price_team_month", "price_team_year", "price_ai_tokens"
PRO_MONTHLY = "price_pro_month"


@pytest.fixture(scope="session")
def _stripe_server():
    from billing.tests.stripe_api.server import FakeStripe

    server = FakeStripe().start()
    yield server
    server.stop()


def stripe_prices(server) -> None:
    server.price_create(TEAM_MONTHLY, unit_amount=4900)
    server.price_create(TEAM_ANNUAL, unit_amount=49000, interval="year")
    server.price_create(PRO_MONTHLY, unit_amount=19900)
    server.price_create(TEAM_METERED, usage_type="metered")


def plans_priced() -> dict[str, Plan]:
    """The team plan (and a pro plan) sold through Stripe: flat prices, 1,000 tokens
    included, then 200 cents per million tokens."""
    team = Plan.objects.get(code="team")
    team.stripe_price_monthly, team.stripe_price_annual = TEAM_MONTHLY, TEAM_ANNUAL
    team.stripe_price_metered = TEAM_METERED
    team.price_monthly_cents, team.price_annual_cents = 4900, 49000
    team.included_ai_tokens, team.overage_cents_per_million_tokens = 1_000, Decimal("200")
    team.save()
    pro, _ = Plan.objects.update_or_create(
        code="pro",
        defaults={
            "name": "Pro",
            "stripe_price_monthly": PRO_MONTHLY,
            "stripe_price_metered": TEAM_METERED,
            "price_monthly_cents": 19900,
            "monthly_tokens": 500_000_000,
            "requests_per_minute": 10_000,
        },
    )
    plan_cache_clear()
    return {"team": team, "pro": pro}


def stripe_settings(settings, server) -> None:
    settings.STRIPE_SECRET_KEY = server.api_key
    settings.STRIPE_WEBHOOK_SECRET = server.webhook_secret
    settings.STRIPE_API_BASE = server.url
    settings.STRIPE_MAX_NETWORK_RETRIES = 0


@pytest.fixture
def stripe_api(_stripe_server, settings, db):
    """The local Stripe API with the plans' prices; the platform pointed at it."""
    _stripe_server.reset()
    stripe_prices(_stripe_server)
    stripe_settings(settings, _stripe_server)
    plans_priced()
    yield _stripe_server
    plan_cache_clear()


def webhook_post(
    client, event: dict, *, secret: str, timestamp: int | None = None, payload: bytes | None = None
):
    """Deliver an event to the webhook endpoint, signed as Stripe signs it."""
    from billing.tests.stripe_api.server import event_signature

    body = payload if payload is not None else json.dumps(event).encode()
    return client.post(
        "/billing/stripe/webhook",
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=event_signature(body, secret, timestamp),
    )


@pytest.fixture
def on_free(org_a):
    Organization.objects.filter(pk=org_a.organization.pk).update(plan="free")
    return org_a


def deliver(public_client, server, events, django_capture_on_commit_callbacks):
    """Post each event as Stripe does; process what was stored (as the task does)."""
    for event in events:
        with django_capture_on_commit_callbacks() as queued:
            response = webhook_post(public_client, event, secret=server.webhook_secret)
        assert response.status_code == 200, response.content
        if not response.json()["duplicate"]:
            assert len(queued) == 1  # one task per new event
        event_process(event_id=event["id"])


def checkout(client_for, org, server, plan="team", interval="month") -> str:
    response = client_for(org, "admin").post(
        "/api/v1/billing/checkout", {"plan": plan, "interval": interval}, format="json"
    )
    assert response.status_code == 201, response.content
    session_id = response.json()["url"].rsplit("/", 1)[1]
    assert session_id in server.sessions
    return session_id


@pytest.fixture
def subscribed(on_free, stripe_api, client_for, public_client, django_capture_on_commit_callbacks):
    """Alpha on the team plan through Checkout (two days ago); returns the Stripe
    subscription id."""
    session_id = checkout(client_for, on_free, stripe_api)
    events = stripe_api.checkout_complete(session_id, started_days_ago=2)
    deliver(public_client, stripe_api, events, django_capture_on_commit_callbacks)
    return stripe_api.sessions[session_id]["subscription"]

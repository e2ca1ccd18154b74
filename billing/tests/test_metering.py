"""AI usage from the ledger to Stripe meter events: once per organization and slice,
late usage reconciled, failed sends retried with the same identifier."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing import metering
from billing.models import MeterReport, StripeCustomer, UsageRecord
from billing.tests.conftest import fresh

pytestmark = pytest.mark.django_db


def spend(org, tokens: int, *, hours_ago: float, cost: str = "0.01") -> UsageRecord:
    return UsageRecord.objects.create(
        organization=org.organization,
        kind="chat",
        provider="openai",
        model_id="gpt-4o-mini",
        total_tokens=tokens,
        prompt_tokens=tokens,
        input_price_per_million=0,
        output_price_per_million=0,
        cost=Decimal(cost),
        created_at=timezone.now() - timedelta(hours=hours_ago),
    )


def customer_of(org) -> str:
    return StripeCustomer.objects.get(organization=org.organization).customer_id


def test_each_closed_slice_is_reported_once(subscribed, on_free, stripe_api):
    # given: usage in two closed hours (anchored to the hour, so the clock cannot
    # split them) and in the current one
    now = timezone.now()
    hours_into_slice = (now - metering.slice_floor(now)).total_seconds() / 3600
    spend(on_free, 100, hours_ago=hours_into_slice + 2.9)
    spend(on_free, 50, hours_ago=hours_into_slice + 2.1)
    spend(on_free, 700, hours_ago=hours_into_slice + 1.5)
    spend(on_free, 9, hours_ago=0)

    run = metering.meter_report(since=timezone.now() - timedelta(hours=5))

    # then: one event per closed slice, with the slice's tokens
    assert (run.sent, run.failed) == (2, 0)
    values = sorted(int(e["payload"]["value"]) for e in stripe_api.meter_events.values())
    assert values == [150, 700]
    assert stripe_api.meter_total(customer_of(on_free)) == 850
    event = next(iter(stripe_api.meter_events.values()))
    assert event["event_name"] == "ai_tokens"

    # and running it again sends nothing
    again = metering.meter_report(since=timezone.now() - timedelta(hours=5))
    assert (again.sent, again.resent) == (0, 0)
    assert stripe_api.meter_count() == 2


def test_usage_that_reaches_the_ledger_late_is_sent_as_the_difference(
    subscribed, on_free, stripe_api
):
    now = timezone.now()
    hours_into_slice = (now - metering.slice_floor(now)).total_seconds() / 3600
    spend(on_free, 100, hours_ago=hours_into_slice + 3.6)
    metering.meter_report(since=timezone.now() - timedelta(hours=5))
    # a call that finished late is booked in the already reported hour
    spend(on_free, 40, hours_ago=hours_into_slice + 3.4)

    run = metering.meter_reconcile()

    assert run.sent == 1
    assert stripe_api.meter_total(customer_of(on_free)) == 140
    assert list(MeterReport.objects.values_list("seq", "value")) == [(0, 100), (1, 40)]


def test_a_failed_send_is_retried_with_the_same_identifier(subscribed, on_free, stripe_api):
    spend(on_free, 300, hours_ago=2)
    stripe_api.fail_next("/v1/billing/meter_events", status=500)

    first = metering.meter_report()

    assert (first.sent, first.failed) == (0, 1)
    pending = MeterReport.objects.get(sent_at=None)
    assert stripe_api.meter_count() == 0

    second = metering.meter_report()

    assert (second.resent, second.sent) == (1, 0)
    assert list(stripe_api.meter_events) == [pending.identifier]
    assert stripe_api.meter_total(customer_of(on_free)) == 300


def test_an_event_stripe_counted_but_we_did_not_record_is_not_counted_twice(
    subscribed, on_free, stripe_api
):
    # given: Stripe accepted the event, but the worker died before marking it sent
    spend(on_free, 300, hours_ago=2)
    metering.meter_report()
    MeterReport.objects.update(sent_at=None)

    run = metering.meter_report()

    assert run.resent == 1
    assert stripe_api.replays == 1  # answered from Stripe's idempotency record
    assert stripe_api.meter_count() == 1
    assert stripe_api.meter_total(customer_of(on_free)) == 300


def test_usage_before_the_subscription_and_of_other_organizations_is_not_sent(
    subscribed, on_free, org_b, stripe_api
):
    spend(on_free, 500, hours_ago=24 * 3)  # before it subscribed
    spend(org_b, 500, hours_ago=2)  # never subscribed

    run = metering.meter_report(since=timezone.now() - timedelta(days=4))

    assert run.sent == 0
    assert stripe_api.meter_count() == 0


def test_admins_see_the_running_bill_members_see_the_plan_only(
    subscribed, on_free, stripe_api, client_for
):
    spend(on_free, 1_500_000, hours_ago=2)
    metering.meter_report()

    account = client_for(on_free, "admin").get("/api/v1/billing").json()

    bill = account["running_bill"]
    assert account["plan"] == {"code": "team", "name": "Team"}
    assert account["subscription"]["status"] == "active"
    assert bill["tokens"] == bill["reported_tokens"] == 1_500_000
    assert bill["included_tokens"] == 1_000
    assert bill["overage_tokens"] == 1_499_000
    # 1.499 M tokens at 200 cents per million, plus the flat 49.00
    assert bill["overage_cents"] == pytest.approx(299.80)
    assert bill["total_cents"] == pytest.approx(5199.80)

    member = client_for(on_free, "member")
    assert member.get("/api/v1/billing").status_code == 403
    assert member.get("/api/v1/billing/invoices").status_code == 403
    assert member.get("/api/v1/billing/plan").json() == {"code": "team", "name": "Team"}
    assert fresh(on_free).plan == "team"


def test_invoices_come_from_stripe_with_their_pdf(subscribed, on_free, stripe_api, client_for):
    page = client_for(on_free, "admin").get("/api/v1/billing/invoices").json()

    assert page["count"] == 1
    invoice = page["results"][0]
    assert invoice["status"] == "paid"
    assert invoice["total_cents"] == 4900
    assert invoice["invoice_pdf"].startswith(stripe_api.url)


def test_the_portal_opens_for_a_customer_only(on_free, subscribed, stripe_api, client_for, org_b):
    response = client_for(on_free, "admin").post("/api/v1/billing/portal")
    assert response.status_code == 201
    assert response.json()["url"].startswith(f"{stripe_api.url}/p/session/")

    response = client_for(org_b, "admin").post("/api/v1/billing/portal")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_billing_account"

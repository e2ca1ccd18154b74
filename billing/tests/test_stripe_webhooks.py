"""Checkout, webhooks and dunning against the local Stripe API (billing/tests/stripe_api).

Events come from the local Stripe server (what Stripe would send after the customer
acted in its pages), are signed as Stripe signs them and posted to the public
webhook endpoint; the stored event is then processed as the Celery task does
(test_stripe_worker.py runs the same path through a real worker).
"""

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from audit.models import AuditAction, AuditEvent
from billing import webhooks
from billing.models import StripeCustomer, StripeEvent, Subscription
from billing.subscriptions import dunning_sweep
from billing.tests.conftest import checkout, deliver, fresh, webhook_post
from billing.tests.stripe_api.server import event_signature
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db


def test_checkout_then_webhook_puts_the_organization_on_the_plan(
    on_free, stripe_api, client_for, public_client, django_capture_on_commit_callbacks
):
    # given: an admin starts a checkout
    session_id = checkout(client_for, on_free, stripe_api)
    session = stripe_api.sessions[session_id]
    assert session["success_url"] == f"{on_free.organization.url}/billing?checkout=success"
    assert [line["price"] for line in session["_line_items"]] == [
        "price_team_month",
        "price_ai_tokens",
    ]
    customer = StripeCustomer.objects.get(organization=on_free.organization)
    assert stripe_api.customers[customer.customer_id]["metadata"]["organization_id"] == str(
        on_free.organization.pk
    )
    # the browser coming back from Checkout changes nothing: only the webhook does
    assert fresh(on_free).plan == "free"

    # when: the customer pays and Stripe's events arrive
    events = stripe_api.checkout_complete(session_id)
    deliver(public_client, stripe_api, events, django_capture_on_commit_callbacks)

    # then: the plan and its limits follow
    assert fresh(on_free).plan == "team"
    subscription = Subscription.objects.get(organization=on_free.organization)
    assert subscription.status == "active"
    assert subscription.plan.code == "team"
    assert subscription.interval == "month"
    assert subscription.metered_item_id
    assert subscription.current_period_end > timezone.now() + timedelta(days=29)
    quotas = client_for(on_free, "admin").get("/api/v1/usage/quotas").json()
    assert quotas["plan"]["code"] == "team"
    limits = {q["name"]: q["limit"] for q in quotas["quotas"]}
    assert limits["monthly_tokens"] == 50_000_000
    with schema_context(on_free.slug):
        audit = AuditEvent.objects.get(action=AuditAction.PLAN_CHANGED)
    assert audit.changes["plan"] == ["free", "team"]


def test_a_second_checkout_while_subscribed_is_refused(subscribed, on_free, client_for):
    response = client_for(on_free, "admin").post(
        "/api/v1/billing/checkout", {"plan": "team"}, format="json"
    )
    assert_error(response, 409, "already_subscribed")


def test_checkout_refuses_unknown_plans_and_non_admins(on_free, stripe_api, client_for):
    response = client_for(on_free, "admin").post(
        "/api/v1/billing/checkout", {"plan": "enterprise"}, format="json"
    )
    assert response.status_code == 400
    assert "plan" in response.json()["error"]["fields"]
    response = client_for(on_free, "admin").post(
        "/api/v1/billing/checkout", {"plan": "team", "interval": "week"}, format="json"
    )
    assert "interval" in response.json()["error"]["fields"]
    response = client_for(on_free, "member").post(
        "/api/v1/billing/checkout", {"plan": "team"}, format="json"
    )
    assert response.status_code == 403
    assert stripe_api.customers == {}  # nothing was created at Stripe


def test_a_duplicate_delivery_is_stored_and_processed_once(
    subscribed, on_free, stripe_api, public_client, django_capture_on_commit_callbacks
):
    events = stripe_api.invoice_fail(subscribed)
    deliver(public_client, stripe_api, events, django_capture_on_commit_callbacks)
    past_due_since = Subscription.objects.get(stripe_id=subscribed).past_due_since

    with django_capture_on_commit_callbacks() as queued:
        again = webhook_post(public_client, events[0], secret=stripe_api.webhook_secret)
    assert again.status_code == 200
    assert again.json() == {"received": True, "duplicate": True}
    assert queued == []
    assert webhooks.event_process(event_id=events[0]["id"]) is False  # already processed
    assert StripeEvent.objects.filter(id=events[0]["id"]).count() == 1
    assert Subscription.objects.get(stripe_id=subscribed).past_due_since == past_due_since


def test_out_of_order_events_converge_on_stripes_current_state(
    on_free, stripe_api, client_for, public_client, django_capture_on_commit_callbacks
):
    session_id = checkout(client_for, on_free, stripe_api)
    created, completed, paid = stripe_api.checkout_complete(session_id)
    sub_id = stripe_api.sessions[session_id]["subscription"]
    failed, updated = stripe_api.invoice_fail(sub_id)

    # the newest events arrive first, the subscription's creation last
    deliver(
        public_client,
        stripe_api,
        [updated, failed, completed, paid, created],
        django_capture_on_commit_callbacks,
    )

    row = Subscription.objects.get(stripe_id=sub_id)
    assert row.status == "past_due"  # not "active" from the late created event's payload
    assert created["data"]["object"]["status"] == "active"
    assert fresh(on_free).plan == "team"  # in its grace period


@pytest.mark.parametrize("tamper", ["secret", "body", "stale", "header"])
def test_a_bad_signature_is_refused_and_changes_nothing(
    tamper, subscribed, on_free, stripe_api, public_client, django_capture_on_commit_callbacks
):
    event = stripe_api.subscription_cancel(subscribed)[0]
    body = json.dumps(event).encode()
    before = StripeEvent.objects.count()
    with django_capture_on_commit_callbacks() as queued:
        if tamper == "secret":
            response = webhook_post(public_client, event, secret="whsec_someone_else")
        elif tamper == "body":
            header = event_signature(body, stripe_api.webhook_secret)
            response = public_client.post(
                "/billing/stripe/webhook",
                data=body.replace(b'"canceled"', b'"active"'),
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=header,
            )
        elif tamper == "stale":  # outside Stripe's 300-second tolerance
            response = webhook_post(
                public_client,
                event,
                secret=stripe_api.webhook_secret,
                timestamp=int(time.time()) - 600,
            )
        else:
            response = public_client.post(
                "/billing/stripe/webhook", data=body, content_type="application/json"
            )

    assert_error(response, 400, "invalid_signature")
    assert queued == []
    assert StripeEvent.objects.count() == before
    assert Subscription.objects.get(stripe_id=subscribed).status == "active"
    assert fresh(on_free).plan == "team"


def test_payment_failure_keeps_service_for_the_grace_period_then_free_limits(
    subscribed,
    on_free,
    stripe_api,
    client_for,
    public_client,
    settings,
    django_capture_on_commit_callbacks,
):
    settings.BILLING_GRACE_DAYS = 7
    admin = client_for(on_free, "admin")

    deliver(
        public_client,
        stripe_api,
        stripe_api.invoice_fail(subscribed),
        django_capture_on_commit_callbacks,
    )

    account = admin.get("/api/v1/billing").json()
    assert account["state"] == "grace"
    assert account["grace_ends_at"]
    assert fresh(on_free).plan == "team"
    assert dunning_sweep() == 0  # still within grace

    # when: the grace period runs out
    assert dunning_sweep(now=timezone.now() + timedelta(days=8)) == 1

    # then: the free plan's limits apply, the subscription is kept
    assert fresh(on_free).plan == "free"
    limits = {q["name"]: q["limit"] for q in admin.get("/api/v1/usage/quotas").json()["quotas"]}
    assert limits["monthly_tokens"] == 2_000_000
    assert Subscription.objects.get(stripe_id=subscribed).status == "past_due"
    with schema_context(on_free.slug):
        changes = [e.changes for e in AuditEvent.objects.filter(action=AuditAction.PLAN_CHANGED)]
    assert {"plan": ["team", "free"], "reason": "grace period ended"} in changes

    # and paying the invoice restores the plan
    deliver(
        public_client,
        stripe_api,
        stripe_api.invoice_pay(subscribed),
        django_capture_on_commit_callbacks,
    )
    assert fresh(on_free).plan == "team"
    assert admin.get("/api/v1/billing").json()["state"] == "ok"


def test_cancel_at_period_end_keeps_the_plan_until_stripe_ends_it(
    subscribed, on_free, stripe_api, client_for, public_client, django_capture_on_commit_callbacks
):
    deliver(
        public_client,
        stripe_api,
        stripe_api.subscription_cancel(subscribed, at_period_end=True),
        django_capture_on_commit_callbacks,
    )
    assert client_for(on_free, "admin").get("/api/v1/billing").json()["state"] == "canceling"
    assert fresh(on_free).plan == "team"

    deliver(
        public_client,
        stripe_api,
        stripe_api.subscription_cancel(subscribed),
        django_capture_on_commit_callbacks,
    )
    assert fresh(on_free).plan == "free"
    assert client_for(on_free, "admin").get("/api/v1/billing").json()["state"] == "downgraded"


def test_a_deleted_customer_drops_to_free_and_may_subscribe_again(
    subscribed, on_free, stripe_api, client_for, public_client, django_capture_on_commit_callbacks
):
    customer = StripeCustomer.objects.get(organization=on_free.organization)
    deliver(
        public_client,
        stripe_api,
        stripe_api.customer_delete(customer.customer_id),
        django_capture_on_commit_callbacks,
    )

    assert fresh(on_free).plan == "free"
    assert StripeCustomer.objects.get(pk=customer.pk).deleted_at is not None
    # a new checkout makes a new customer
    checkout(client_for, on_free, stripe_api)
    assert StripeCustomer.objects.get(organization=on_free.organization).customer_id != (
        customer.customer_id
    )


def test_a_plan_change_applies_when_stripe_confirms_it(
    subscribed, on_free, stripe_api, client_for, public_client, django_capture_on_commit_callbacks
):
    response = client_for(on_free, "admin").post(
        "/api/v1/billing/subscription/change", {"plan": "pro"}, format="json"
    )
    assert response.status_code == 202, response.content
    assert stripe_api.subscriptions[subscribed]["items"]["data"][0]["price"]["id"] == (
        "price_pro_month"
    )
    assert fresh(on_free).plan == "team"  # not before the webhook

    updated = stripe_api.event(
        "customer.subscription.updated", stripe_api.subscriptions[subscribed]
    )
    deliver(public_client, stripe_api, [updated], django_capture_on_commit_callbacks)
    assert fresh(on_free).plan == "pro"


def test_webhook_needs_post_and_configuration(public_client, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    response = public_client.post(
        "/billing/stripe/webhook", data=b"{}", content_type="application/json"
    )
    assert_error(response, 503, "billing_not_configured")
    assert public_client.get("/billing/stripe/webhook").status_code == 405

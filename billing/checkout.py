"""Starting payments at Stripe: the customer, Checkout, the Customer Portal and
plan changes. Nothing here changes the organization's plan: that happens only
when Stripe's webhook reports the new state (billing.webhooks)."""

from __future__ import annotations

import stripe
from django.db import IntegrityError, transaction

from billing.errors import AlreadySubscribed, NoStripeCustomer, NotSubscribed, StripeUnavailable
from billing.models import Plan, StripeCustomer
from billing.stripe_client import stripe_client
from billing.subscriptions import BILLING, current_subscription
from core.errors import ValidationFailed

INTERVALS = ("month", "year")


def billing_url(organization, outcome: str) -> str:
    return f"{organization.url}/billing?checkout={outcome}"


def customer_ensure(*, organization, email: str = "") -> StripeCustomer:
    """The organization's Stripe customer, created at Stripe on first need. The
    idempotency key makes two concurrent first checkouts create one customer."""
    customer = StripeCustomer.objects.filter(organization=organization, deleted_at=None).first()
    if customer is not None:
        return customer
    generation = StripeCustomer.objects.filter(organization=organization).count()
    try:
        obj = stripe_client().v1.customers.create(
            params={
                "name": organization.name,
                **({"email": email} if email else {}),
                "metadata": {"organization_id": str(organization.pk), "slug": organization.slug},
            },
            options={"idempotency_key": f"customer-{organization.pk}-{generation}"},
        )
    except stripe.StripeError as error:
        raise StripeUnavailable() from error
    try:
        with transaction.atomic():
            # A deleted customer's row is replaced (one row per organization).
            StripeCustomer.objects.filter(organization=organization).delete()
            return StripeCustomer.objects.create(organization=organization, customer_id=obj.id)
    except IntegrityError:
        return StripeCustomer.objects.get(organization=organization)


def _purchasable_plan(code: str, interval: str) -> Plan:
    plan = Plan.objects.filter(code=code).first()
    if plan is None or not plan.stripe_price(interval):
        raise ValidationFailed(
            fields={"plan": ["This plan cannot be bought with this billing interval."]}
        )
    return plan


def checkout_session_create(*, organization, user, plan_code: str, interval: str) -> str:
    """A Stripe Checkout page for a new subscription; returns its URL."""
    plan = _purchasable_plan(plan_code, interval)
    subscription = current_subscription(organization)
    if subscription is not None and subscription.status in BILLING:
        raise AlreadySubscribed()
    customer = customer_ensure(organization=organization, email=getattr(user, "email", ""))
    line_items = [{"price": plan.stripe_price(interval), "quantity": 1}]
    if plan.stripe_price_metered:
        line_items.append({"price": plan.stripe_price_metered})  # metered: no quantity
    metadata = {"organization_id": str(organization.pk), "plan": plan.code}
    try:
        session = stripe_client().v1.checkout.sessions.create(
            params={
                "mode": "subscription",
                "customer": customer.customer_id,
                "client_reference_id": str(organization.pk),
                "line_items": line_items,
                "success_url": billing_url(organization, "success"),
                "cancel_url": billing_url(organization, "cancel"),
                "metadata": metadata,
                "subscription_data": {"metadata": metadata},
            }
        )
    except stripe.StripeError as error:
        raise StripeUnavailable() from error
    return session.url


def portal_session_create(*, organization) -> str:
    """A Customer Portal session (payment methods, invoices, cancellation)."""
    customer = StripeCustomer.objects.filter(organization=organization, deleted_at=None).first()
    if customer is None:
        raise NoStripeCustomer()
    try:
        session = stripe_client().v1.billing_portal.sessions.create(
            params={"customer": customer.customer_id, "return_url": f"{organization.url}/billing"}
        )
    except stripe.StripeError as error:
        raise StripeUnavailable() from error
    return session.url


def subscription_change(*, organization, plan_code: str, interval: str) -> None:
    """Ask Stripe to move the subscription to another plan (prorated). The mirror
    and the limits change when customer.subscription.updated arrives."""
    plan = _purchasable_plan(plan_code, interval)
    subscription = current_subscription(organization)
    if subscription is None or subscription.status not in BILLING:
        raise NotSubscribed()
    client = stripe_client()
    try:
        obj = client.v1.subscriptions.retrieve(subscription.stripe_id).to_dict()
        items = []
        for item in obj["items"]["data"]:
            usage = ((item.get("price") or {}).get("recurring") or {}).get("usage_type")
            if usage == "metered":
                if plan.stripe_price_metered and item["price"]["id"] != plan.stripe_price_metered:
                    items += [
                        {"id": item["id"], "deleted": True},
                        {"price": plan.stripe_price_metered},
                    ]
            else:
                items.append({"id": item["id"], "price": plan.stripe_price(interval)})
        client.v1.subscriptions.update(
            subscription.stripe_id,
            params={
                "items": items,
                "proration_behavior": "create_prorations",
                "cancel_at_period_end": False,
                "metadata": {"organization_id": str(organization.pk), "plan": plan.code},
            },
        )
    except stripe.StripeError as error:
        raise StripeUnavailable() from error

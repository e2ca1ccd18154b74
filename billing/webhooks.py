"""Stripe's webhooks: verified, stored once by event id, processed once.

The endpoint only verifies the signature over the raw body (Stripe's scheme and
tolerance, through ``stripe.Webhook.construct_event``), stores the event and
answers 200; a Celery task processes it. Processing never trusts the event's
copy of an object: it fetches the object's current state from Stripe, so a late
or out-of-order event cannot roll the mirror back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

import stripe
from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.models import StripeCustomer, StripeEvent, Subscription
from billing.subscriptions import (
    organization_for_customer,
    organization_plan_refresh,
    subscription_refresh,
)

logger = logging.getLogger(__name__)


class InvalidWebhook(Exception):
    """The body is not an event signed with our secret within the tolerance."""


def event_receive(*, payload: bytes, signature: str) -> tuple[StripeEvent, bool]:
    """Verify and store one delivery; True when it is new (and was queued)."""
    try:
        event = stripe.Webhook.construct_event(
            payload.decode("utf-8"),
            signature,
            settings.STRIPE_WEBHOOK_SECRET,
            tolerance=settings.STRIPE_WEBHOOK_TOLERANCE,
        )
    except (ValueError, UnicodeDecodeError, stripe.SignatureVerificationError) as error:
        raise InvalidWebhook(str(error)) from error
    event = event.to_dict(for_json=True)
    if not event.get("id") or not event.get("type"):
        raise InvalidWebhook("Not a Stripe event.")
    obj = (event.get("data") or {}).get("object") or {}
    with transaction.atomic():
        row, created = StripeEvent.objects.get_or_create(
            id=event["id"],
            defaults={
                "type": event["type"],
                "object_id": str(obj.get("id", ""))[:120],
                "livemode": bool(event.get("livemode")),
                "stripe_created": datetime.fromtimestamp(event.get("created") or 0, tz=UTC),
                "payload": event,
            },
        )
        if created:
            # By name: the tasks module imports this one.
            transaction.on_commit(
                lambda: current_app.send_task("billing.process_stripe_event", args=[row.id])
            )
    return row, created


def event_process(*, event_id: str) -> bool:
    """Apply one stored event, exactly once: the row is locked and marked in the
    same transaction as the changes. False when it was already processed."""
    with transaction.atomic():
        event = StripeEvent.objects.select_for_update().filter(id=event_id).first()
        if event is None or event.processed_at is not None:
            return False
        handler = HANDLERS.get(event.type)
        if handler is not None:
            handler((event.payload.get("data") or {}).get("object") or {})
        event.processed_at = timezone.now()
        event.attempts += 1
        event.last_error = ""
        event.save(update_fields=["processed_at", "attempts", "last_error"])
    return True


def event_failed(*, event_id: str, error: str) -> None:
    StripeEvent.objects.filter(id=event_id).update(last_error=error[:2000])


# -- handlers: each acts on the object's current state at Stripe ---------------------


def _refresh(stripe_id: str, organization=None, reason: str = "") -> None:
    row = subscription_refresh(stripe_id=stripe_id, organization=organization)
    if row is not None:
        organization_plan_refresh(organization=row.organization, reason=reason)


def _id(value) -> str:
    return value if isinstance(value, str) else (value or {}).get("id", "")


def on_checkout_completed(session: dict) -> None:
    if session.get("mode") != "subscription" or not session.get("subscription"):
        return
    organization = organization_for_customer(_id(session.get("customer")), session.get("metadata"))
    if organization is None and str(session.get("client_reference_id", "")).isdigit():
        from users.models import Organization

        organization = Organization.objects.filter(pk=int(session["client_reference_id"])).first()
    if organization is None:
        logger.warning("checkout %s: no organization", session.get("id"))
        return
    StripeCustomer.objects.get_or_create(
        organization=organization, defaults={"customer_id": _id(session.get("customer"))}
    )
    _refresh(_id(session["subscription"]), organization, "checkout completed")


def on_subscription_changed(subscription: dict) -> None:
    _refresh(subscription["id"], reason="subscription changed at Stripe")


def _invoice_subscription(invoice: dict) -> str:
    # API 2025-03-31 moved it under parent.subscription_details; older versions had it on top.
    details = ((invoice.get("parent") or {}).get("subscription_details")) or {}
    return _id(details.get("subscription") or invoice.get("subscription"))


def on_invoice_paid(invoice: dict) -> None:
    if stripe_id := _invoice_subscription(invoice):
        _refresh(stripe_id, reason="invoice paid")


def on_invoice_payment_failed(invoice: dict) -> None:
    if stripe_id := _invoice_subscription(invoice):
        _refresh(stripe_id, reason="invoice payment failed")


def on_invoice_created(invoice: dict) -> None:
    """A period ended: report its last usage now, before Stripe finalizes the invoice."""
    organization = organization_for_customer(_id(invoice.get("customer")))
    if organization is not None and invoice.get("billing_reason") == "subscription_cycle":
        transaction.on_commit(
            lambda: current_app.send_task(
                "billing.meter_report", kwargs={"organization_ids": [organization.pk]}
            )
        )


def on_customer_deleted(customer: dict) -> None:
    row = StripeCustomer.objects.filter(customer_id=customer["id"]).first()
    if row is None:
        return
    row.deleted_at = row.deleted_at or timezone.now()
    row.save(update_fields=["deleted_at"])
    for stripe_id in Subscription.objects.filter(customer_id=customer["id"]).values_list(
        "stripe_id", flat=True
    ):
        subscription_refresh(stripe_id=stripe_id, organization=row.organization)
    organization_plan_refresh(organization=row.organization, reason="customer deleted at Stripe")


HANDLERS: dict[str, Callable[[dict], None]] = {
    "checkout.session.completed": on_checkout_completed,
    "customer.subscription.created": on_subscription_changed,
    "customer.subscription.updated": on_subscription_changed,
    "customer.subscription.deleted": on_subscription_changed,
    "invoice.paid": on_invoice_paid,
    "invoice.payment_failed": on_invoice_payment_failed,
    "invoice.created": on_invoice_created,
    "customer.deleted": on_customer_deleted,
}

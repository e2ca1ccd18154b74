"""Stripe's webhooks: verified, stored once by event id, processed once.

The endpoint only verifies the signature over the raw body (Stripe's scheme and
tolerance, through ``stripe.Webhook.construct_event``), stores the event and
answers 200; a Celery task processes it. Processing never trusts the event's
copy of an object: it fetches the object's current state from Stripe, so a late
or out-of-order event cannot roll the mirror back.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import stripe
from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from psycopg.types.json import Jsonb

from billing.models import StripeCustomer, StripeEvent, Subscription
from billing.subscriptions import (
    organization_for_customer,
    organization_plan_refresh,
    subscription_refresh,
)

logger = logging.getLogger(__name__)


class InvalidWebhook(Exception):
    """The body is not an event signed with our secret within the tolerance."""


def event_verify(*, payload: bytes, signature: str) -> dict:
    """The event in ``payload`` when ``signature`` is Stripe's over these exact bytes
    with our secret, within the tolerance (``stripe.WebhookSignature.verify_header``,
    what ``stripe.Webhook.construct_event`` checks; the payload is then read as plain
    JSON, since it is only stored here). Cheap enough for the event loop."""
    try:
        text = payload.decode("utf-8")
        stripe.WebhookSignature.verify_header(
            text, signature, settings.STRIPE_WEBHOOK_SECRET, settings.STRIPE_WEBHOOK_TOLERANCE
        )
        event = json.loads(text)
    except (ValueError, RecursionError, stripe.SignatureVerificationError) as error:
        raise InvalidWebhook(str(error)) from error
    if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
        raise InvalidWebhook("Not a Stripe event.")
    return event


def event_queue(event_id: str) -> None:
    # By name: the tasks module imports this one.
    current_app.send_task("billing.process_stripe_event", args=[event_id])


def event_store(event: dict) -> bool:
    """Store one verified event (``events_store``) and queue its processing, after the
    commit when inside a transaction; True when it is new. An event stored whose
    queueing failed is queued again by ``events_requeue`` (beat) or by Stripe's
    redelivery (the caller answers an error, and Stripe retries what got no 2xx)."""
    (created,), to_queue = events_store([event])
    for event_id in to_queue:
        transaction.on_commit(lambda event_id=event_id: event_queue(event_id))
    return created


def _row_values(event: dict) -> list:
    obj = (event.get("data") or {}).get("object") or {}
    return [
        str(event["id"])[:120],
        str(event["type"])[:80],
        str(obj.get("id", ""))[:120],
        bool(event.get("livemode")),
        datetime.fromtimestamp(event.get("created") or 0, tz=UTC),
        Jsonb(event),
        timezone.now(),
    ]


def events_store(events: list[dict]) -> tuple[list[bool], list[str]]:
    """Store a batch of verified events in one statement (the ingress's group commit):
    for each, whether it is new; and the ids to queue (the new ones, and repeats of
    events not processed yet). Queueing is the caller's, after it has answered."""
    if not events:
        return [], []
    table = StripeEvent._meta.db_table
    rows = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, 0, '')"] * len(events))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (id, type, object_id, livemode, stripe_created, payload,"  # noqa: S608
            f" received_at, attempts, last_error) VALUES {rows}"
            " ON CONFLICT (id) DO NOTHING RETURNING id",
            [value for event in events for value in _row_values(event)],
        )
        inserted = {row[0] for row in cursor.fetchall()}
    created, seen = [], set()
    for event in events:
        new = event["id"] in inserted and event["id"] not in seen
        seen.add(event["id"])
        created.append(new)
    repeats = {e["id"] for e, new in zip(events, created, strict=True) if not new} - inserted
    waiting = (
        set(
            StripeEvent.objects.filter(id__in=repeats, processed_at__isnull=True).values_list(
                "id", flat=True
            )
        )
        if repeats
        else set()
    )
    return created, sorted(inserted | waiting)


def events_requeue(*, older_than_seconds: int = 60, limit: int = 500) -> int:
    """Queue again the stored events still unprocessed after a while: their queueing
    was lost (the process answered and died, or the broker was away) or their task
    gave up. Beat runs it every minute; processing is exactly once anyway."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    ids = list(
        # Never tried (a task that failed is in Celery's retry schedule already).
        StripeEvent.objects.filter(processed_at__isnull=True, last_error="", received_at__lt=cutoff)
        .order_by("received_at")
        .values_list("id", flat=True)[:limit]
    )
    for event_id in ids:
        event_queue(event_id)
    return len(ids)


def event_receive(*, payload: bytes, signature: str) -> tuple[str, bool]:
    """Verify and store one delivery and queue its processing: (event id, new?)."""
    event = event_verify(payload=payload, signature=signature)
    return event["id"], event_store(event)


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

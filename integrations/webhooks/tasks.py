"""Webhook tasks (public schema rows; thin, safe to run twice)."""

from celery import shared_task

from integrations.webhooks import services


@shared_task(name="integrations.webhooks_fan_out", acks_late=True)
def webhooks_fan_out(
    schema_name: str, event_id: str, event_type: str, occurred_at: str, data: dict
) -> int:
    """One delivery per subscribed endpoint (a second run adds none)."""
    return len(
        services.deliveries_create(
            schema_name=schema_name,
            event_id=event_id,
            event_type=event_type,
            occurred_at=occurred_at,
            data=data,
        )
    )


@shared_task(name="integrations.webhook_deliver", acks_late=True)
def webhook_deliver(delivery_id: str) -> str | None:
    """One attempt of a due delivery (the row's lease makes a duplicate a no-op)."""
    delivery = services.delivery_attempt(delivery_id=delivery_id)
    return delivery.status if delivery else None


@shared_task(name="integrations.webhooks_retry_due", acks_late=True)
def webhooks_retry_due() -> int:
    """Beat: queue every delivery whose next attempt is due (retries, and first
    attempts whose message was lost)."""
    due = services.deliveries_due()
    for delivery_id in due:
        webhook_deliver.delay(delivery_id)
    return len(due)

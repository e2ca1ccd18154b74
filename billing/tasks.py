"""Billing tasks (public schema): thin, safe to run twice."""

from celery import shared_task

from billing import metering, subscriptions, webhooks


@shared_task(
    name="billing.process_stripe_event",
    bind=True,
    acks_late=True,
    # Stripe unreachable, a lock timeout...: the event stays unprocessed and is retried.
    autoretry_for=(Exception,),
    retry_backoff=5,
    retry_backoff_max=600,
    max_retries=8,
)
def process_stripe_event(self, event_id: str) -> bool:
    """Apply a stored webhook event; a processed one is skipped (row lock + mark)."""
    try:
        return webhooks.event_process(event_id=event_id)
    except Exception as error:
        webhooks.event_failed(event_id=event_id, error=repr(error))
        raise


@shared_task(name="billing.stripe_events_requeue", acks_late=True)
def stripe_events_requeue() -> int:
    """Stored webhook events that nobody processed yet are queued again (beat)."""
    return webhooks.events_requeue()


@shared_task(name="billing.meter_report", acks_late=True)
def meter_report(organization_ids: list[int] | None = None) -> dict:
    run = metering.meter_report(organization_ids=organization_ids)
    return {"sent": run.sent, "resent": run.resent, "failed": run.failed}


@shared_task(name="billing.meter_reconcile", acks_late=True)
def meter_reconcile() -> dict:
    run = metering.meter_reconcile()
    return {"sent": run.sent, "resent": run.resent, "failed": run.failed}


@shared_task(name="billing.dunning_sweep", acks_late=True)
def dunning_sweep() -> int:
    return subscriptions.dunning_sweep()

"""Gmail's beat task: the scheduled sync. Apart from ``tasks.py`` because it calls the
services, which queue ``tasks.gmail_sync_task`` (one module for both would be a cycle)."""

from celery import shared_task

from integrations.gmail.services import gmail_sync_due


@shared_task(name="integrations.gmail_sync_due", acks_late=True)
def gmail_sync_due_task() -> int:
    """Beat: queue the scheduled syncs that are due (public schema; bounded per run)."""
    return len(gmail_sync_due())

"""Gmail tasks: thin; the sync lives in integrations/gmail/sync.py."""

from celery import shared_task

from core.tasks import TenantTask
from integrations.gmail.sync import gmail_sync


@shared_task(name="integrations.gmail_sync", base=TenantTask, acks_late=True)
def gmail_sync_task(connection_id: str) -> dict:
    """One sync run; a duplicate delivery finds the connection's lease held."""
    return gmail_sync(connection_id=connection_id)

"""File tasks: thin; the work lives in files.services."""

from celery import shared_task

from core.tasks import TenantTask
from files import services


@shared_task(name="files.file_process", base=TenantTask, acks_late=True)
def file_process_task(file_id: str) -> dict:
    file = services.file_process(file_id=file_id)
    return {"status": file.status if file else "missing"}


@shared_task(name="files.attachments_expire", acks_late=True)
def attachments_expire_task() -> dict:
    """Beat (every FILES_RETENTION_SWEEP_INTERVAL seconds, hourly by default): chat
    attachments past their organization's retention are deleted, bytes and rows, and
    the deletion recorded in each organization's audit log."""
    return services.attachments_expire_everywhere()

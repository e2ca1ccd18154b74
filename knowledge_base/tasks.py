"""Ingestion task: thin; the pipeline lives in knowledge_base.ingestion."""

import random

from celery import shared_task
from django.conf import settings

from core.tasks import TenantTask
from core.tenancy import current_organization
from knowledge_base.ingestion import RetryableIngestionError, document_process, fail_document
from knowledge_base.ingestion_slots import ingestion_slot
from knowledge_base.leases import documents_recover_stalled_everywhere


@shared_task(
    name="knowledge_base.document_process",
    base=TenantTask,
    bind=True,
    acks_late=True,
    autoretry_for=(RetryableIngestionError,),
    retry_backoff=5,
    retry_backoff_max=120,
    max_retries=3,
)
def document_process_task(self, document_id: str, version: int) -> dict:
    organization = current_organization()
    token = self.request.id or f"{document_id}:{version}"
    with ingestion_slot(organization_id=organization.pk, token=token) as slot:
        if slot is None and not self.request.is_eager:  # (eager runs have no queue)
            # The organization is at its concurrency limit: back to the queue, so this
            # worker serves another organization meanwhile. Jitter spreads the returns.
            wait = settings.KNOWLEDGE_INGESTION_REQUEUE_SECONDS
            self.apply_async((document_id, version), countdown=wait + random.uniform(0, wait))
            return {"status": "deferred", "chunks": 0}
        result = document_process(
            document_id=document_id,
            version=version,
            organization=organization,
            final_attempt=self.request.retries >= self.max_retries,
            heartbeat=slot.renew if slot else None,
            # The delivery owns the document's lease: the task id is the same when Celery
            # redelivers it after the worker running it died, so it takes over at once.
            owner=self.request.id or "",
        )
    return {"status": result.status, "chunks": result.chunks}


@shared_task(name="knowledge_base.documents_recover_stalled", acks_late=True)
def documents_recover_stalled_task() -> dict:
    """Beat, every minute: documents whose worker died or whose task was lost are
    queued again (bounded), then failed with the reason. Safe to run twice: each
    document is taken under a row lock."""
    return documents_recover_stalled_everywhere(requeue=_requeue, fail=fail_document)


def _requeue(document_id: str, version: int) -> None:
    document_process_task.delay(document_id, version)

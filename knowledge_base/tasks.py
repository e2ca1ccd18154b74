"""Ingestion task: thin; the pipeline lives in knowledge_base.ingestion."""

import random

from celery import shared_task
from django.conf import settings

from core.tasks import TenantTask
from core.tenancy import current_organization
from knowledge_base.ingestion import RetryableIngestionError, document_process
from knowledge_base.ingestion_slots import ingestion_slot


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
        )
    return {"status": result.status, "chunks": result.chunks}

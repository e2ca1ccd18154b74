"""Ingestion task: thin; the pipeline lives in knowledge_base.ingestion."""

import random

from celery import shared_task
from django.conf import settings

from core.tasks import TenantTask
from core.tenancy import current_organization
from knowledge_base.evaluation.runs import (
    evaluation_run_execute,
    evaluation_runs_recover_everywhere,
)
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


@shared_task(name="knowledge_base.evaluation_run", base=TenantTask, bind=True, acks_late=True)
def evaluation_run_task(self, run_id: str) -> dict:
    """Run one retrieval evaluation. Safe to run twice: the run is claimed under a lease
    owned by this delivery, and each finished (mode, top_k) result is kept."""
    run = evaluation_run_execute(
        run_id=run_id,
        owner=self.request.id or f"eager:{run_id}",
        organization=current_organization(),
    )
    return {"status": run.status if run else "skipped"}


@shared_task(name="knowledge_base.evaluation_runs_recover_stalled", acks_late=True)
def evaluation_runs_recover_stalled_task() -> dict:
    """Beat, with the documents' sweep: runs whose worker died or whose task was lost are
    queued again (bounded), then failed with the reason."""
    return evaluation_runs_recover_everywhere(
        requeue=lambda run_id: evaluation_run_task.delay(run_id)
    )

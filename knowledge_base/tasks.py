"""Ingestion task: thin; the pipeline lives in knowledge_base.ingestion."""

from celery import shared_task

from core.tasks import TenantTask
from core.tenancy import current_organization
from knowledge_base.ingestion import RetryableIngestionError, document_process


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
    result = document_process(
        document_id=document_id,
        version=version,
        organization=current_organization(),
        final_attempt=self.request.retries >= self.max_retries,
    )
    return {"status": result.status, "chunks": result.chunks}

"""The ingestion pipeline: extract -> chunk -> embed in batches -> write chunks.

Safe to run twice: a run claims the document for the version it was queued for;
a duplicate or stale delivery finds nothing to claim and returns. All chunks of
a document are written in one transaction that replaces the previous ones, so a
failure at any step leaves no partial chunks.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from assistants import gateway
from assistants.providers.errors import ProviderError
from billing import quotas
from billing.models import Channel
from core.tenancy import require_tenant_schema
from files import services as file_services
from files.models import FileStatus
from knowledge_base import chunking, extraction
from knowledge_base.collection_counts import collection_refresh_counts
from knowledge_base.models import Document, DocumentChunk, DocumentStatus

logger = logging.getLogger(__name__)

# A run that has not finished after this long is presumed dead (worker killed)
# and may be claimed again by a redelivered task.
STALE_PROCESSING = timedelta(minutes=30)


class RetryableIngestionError(Exception):
    """A transient provider failure: the task retries with backoff."""


@dataclass(frozen=True)
class IngestionResult:
    status: str  # completed | failed | skipped
    chunks: int = 0


def _claim(document_id, version: int) -> bool:
    stale = timezone.now() - STALE_PROCESSING
    claimable = Q(status__in=[DocumentStatus.PENDING, DocumentStatus.FAILED]) | Q(
        status=DocumentStatus.PROCESSING, processing_started_at__lt=stale
    )
    return bool(
        Document.objects.filter(claimable, pk=document_id, version=version).update(
            status=DocumentStatus.PROCESSING,
            processing_started_at=timezone.now(),
            error="",
            chunks_done=0,
            chunks_total=0,
        )
    )


def _source_document(document: Document) -> extraction.ExtractedDocument:
    if document.file_id:
        data = file_services.file_read(file=document.file)
        return extraction.extract(data, document.content_type)
    return extraction.extract(document.text.encode(), document.content_type)


def _embed(document: Document, chunks: list, organization) -> list[list[float]]:
    collection = document.collection
    context = gateway.UsageContext(organization=organization, channel=Channel.INGESTION)
    batch_size = settings.KNOWLEDGE_EMBED_BATCH_SIZE
    vectors: list[list[float]] = []
    for start in range(0, len(chunks), batch_size):
        batch = [c.text for c in chunks[start : start + batch_size]]
        result = gateway.ai_embed(model=collection.embedding_model, texts=batch, context=context)
        vectors.extend(result.vectors)
        # Progress is its own short write, visible to readers while the run goes on.
        Document.objects.filter(pk=document.pk).update(chunks_done=len(vectors))
    return vectors


def _write_chunks(document: Document, version: int, chunks: list, vectors: list, extracted) -> bool:
    """Replace the document's chunks in one transaction; False if a newer run took over."""
    dimensions = document.collection.embedding_dimensions
    with transaction.atomic():
        current = Document.objects.select_for_update().get(pk=document.pk)
        if current.version != version:
            return False
        DocumentChunk.objects.filter(document=document).delete()
        DocumentChunk.objects.bulk_create(
            [
                DocumentChunk(
                    document=document,
                    collection_id=document.collection_id,
                    index=chunk.index,
                    content=chunk.text,
                    token_count=chunk.token_count,
                    page_number=chunk.page,
                    section_title=(chunk.section or "")[:500],
                    embedding=vector,
                    embedding_dimensions=dimensions,
                    metadata=chunk.metadata,
                )
                for chunk, vector in zip(chunks, vectors, strict=True)
            ],
            batch_size=500,
        )
        current.status = DocumentStatus.COMPLETED
        current.chunks_done = current.chunks_total = len(chunks)
        current.page_count = extracted.page_count
        current.processed_at = timezone.now()
        current.save()
        if document.file_id:
            text = "\n\n".join(section.text for section in extracted.sections)
            summary = f"{len(chunks)} chunks" + (
                f", {extracted.page_count} pages" if extracted.page_count else ""
            )
            file_services.file_update_extraction(
                file=document.file,
                status=FileStatus.PROCESSED,
                extracted_text=text,
                summary=summary,
            )
        collection_refresh_counts(collection_id=document.collection_id)
    return True


def _fail(document_id, version: int, message: str) -> None:
    with transaction.atomic():
        document = (
            Document.objects.select_for_update().filter(pk=document_id, version=version).first()
        )
        if document is None:
            return
        DocumentChunk.objects.filter(document=document).delete()
        document.status = DocumentStatus.FAILED
        document.error = message[:1000]
        document.chunks_done = 0
        document.save(update_fields=["status", "error", "chunks_done", "updated_at"])
        if document.file_id:
            file_services.file_update_extraction(
                file=document.file, status=FileStatus.FAILED, extracted_text="", summary=message
            )
        collection_refresh_counts(collection_id=document.collection_id)


def document_process(
    *, document_id, version: int, organization, final_attempt: bool = True
) -> IngestionResult:
    """Run the pipeline for one document version (the body of the Celery task)."""
    require_tenant_schema()
    if not _claim(document_id, version):
        return IngestionResult("skipped")
    document = Document.objects.select_related("collection__embedding_model", "file").get(
        pk=document_id
    )
    try:
        extracted = _source_document(document)
        chunks = chunking.chunk_document(
            extracted,
            chunk_size=document.collection.chunk_size,
            overlap=document.collection.chunk_overlap,
        )
        if not chunks:
            raise extraction.ExtractionError("No text could be extracted from this document.")
        Document.objects.filter(pk=document.pk).update(chunks_total=len(chunks))
        vectors = _embed(document, chunks, organization)
    except extraction.DocumentError as exc:
        _fail(document_id, version, exc.message)
        return IngestionResult("failed")
    except ProviderError as exc:
        if exc.retryable and not final_attempt:
            # Leave it claimable for the retry.
            Document.objects.filter(pk=document_id, version=version).update(
                status=DocumentStatus.PENDING
            )
            raise RetryableIngestionError(str(exc)) from exc
        _fail(document_id, version, f"Embedding failed: {exc.user_message}")
        return IngestionResult("failed")
    except quotas.TokenRateExceeded as exc:
        if not final_attempt:  # the minute's tokens are used up: try again later
            Document.objects.filter(pk=document_id, version=version).update(
                status=DocumentStatus.PENDING
            )
            raise RetryableIngestionError(exc.message) from exc
        _fail(document_id, version, f"Not embedded: {exc.message}")
        return IngestionResult("failed")
    except quotas.QuotaExceeded as exc:
        _fail(document_id, version, f"Not embedded: {exc.message}")
        return IngestionResult("failed")
    except Exception:
        logger.exception("ingestion of document %s failed", document_id)
        _fail(document_id, version, "Processing failed unexpectedly; the team has been notified.")
        raise
    if not _write_chunks(document, version, chunks, vectors, extracted):
        return IngestionResult("skipped")
    return IngestionResult("completed", len(chunks))

"""The ingestion pipeline: extract -> chunk -> embed in batches -> write chunks.

Safe to run twice: a run claims the document for the version it was queued for,
as a lease owned by its delivery (knowledge_base/leases.py); a duplicate or stale
delivery finds nothing to claim and returns, and a redelivery after the owner died
takes it over. All chunks of
a document are written in one transaction that replaces the previous ones, so a
failure at any step leaves no partial chunks.

Deleting or reprocessing a document cancels its run: the parse runs in a child
process (knowledge_base.extraction.sandbox) that is killed as soon as the
document's version is gone, and every later stage checks again before it works.
"""

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from assistants import gateway
from assistants.providers.errors import ProviderError
from billing import quotas
from billing.models import Channel
from core import events
from core.tenancy import require_tenant_schema
from knowledge_base import chunking, extraction, leases
from knowledge_base.collection_counts import collection_refresh_counts
from knowledge_base.embedding_windows import EmbeddingWindow, embedding_input, embedding_window
from knowledge_base.extraction.sandbox import ExtractionCancelled, extract_isolated
from knowledge_base.file_processing import extraction_limits, file_extract_document
from knowledge_base.models import (
    Chunking,
    Document,
    DocumentChunk,
    DocumentSection,
    DocumentStatus,
)
from knowledge_base.retrieval import text_index

__all__ = ["embedding_input"]  # re-exported: what the embedding model reads of a chunk

logger = logging.getLogger(__name__)

# A service the pipeline needs went away mid-run (not the document's fault).
OUTAGES = (RedisConnectionError, RedisTimeoutError, OperationalError, InterfaceError)


class RetryableIngestionError(Exception):
    """A transient provider failure: the task retries with backoff."""


class IngestionCancelled(Exception):
    """The document was deleted or reprocessed while this run worked on it."""


@dataclass(frozen=True)
class IngestionResult:
    status: str  # completed | failed | skipped | cancelled
    chunks: int = 0


def _release_for_retry(document_id, version: int) -> None:
    """Back to ``pending`` without an owner, claimable by the task's retry."""
    Document.objects.filter(pk=document_id, version=version).update(
        status=DocumentStatus.PENDING,
        lease_owner="",
        lease_expires_at=None,
        updated_at=timezone.now(),
    )


class _Run:
    """This run's view of its document: still wanted? (checked between and during stages)"""

    def __init__(self, document_id, version: int, heartbeat: Callable[[], None] | None) -> None:
        self.document_id, self.version, self.heartbeat = document_id, version, heartbeat

    def current(self) -> bool:
        if self.heartbeat is not None:
            self.heartbeat()
        return Document.objects.filter(pk=self.document_id, version=self.version).exists()

    def check(self) -> None:
        if not self.current():
            raise IngestionCancelled()


def _source_document(document: Document, run: _Run) -> extraction.ExtractedDocument:
    if document.file_id:
        # The file's one extraction (shared with chat attachments), recorded on the file.
        return file_extract_document(file=document.file, keep_going=run.current)
    return extract_isolated(
        document.text.encode(),
        document.content_type,
        limits=extraction_limits(),
        keep_going=run.current,
    )


@dataclass(frozen=True)
class ChunkPlan:
    """What the ingestion writes: the searched chunks, and with parent-child chunking
    their parents (each chunk's ``parent`` indexes ``parents``)."""

    chunks: list[chunking.Chunk]
    parents: list[chunking.Chunk] = field(default_factory=list)


def chunk_plan_for_collection(
    collection, extracted, window: EmbeddingWindow | None = None
) -> ChunkPlan:
    """The collection's chunking, the searched chunks bounded by its embedding model's
    window (counted with the model's own tokenizer) so the vector side sees each whole;
    parents are not embedded and keep their own size (ADR 0103)."""
    window = window or embedding_window(collection.embedding_model)
    chunk_size = min(collection.chunk_size, window.chunk_tokens)
    overlap = min(collection.chunk_overlap, max(0, chunk_size // 2 - 1))
    if collection.chunking == Chunking.PARENT_CHILD and collection.parent_size > chunk_size:
        tree = chunking.chunk_parent_child(
            extracted,
            parent_size=collection.parent_size,
            child_size=chunk_size,
            overlap=overlap,
            count_tokens=window.count_tokens,
        )
        return ChunkPlan(tree.children, tree.parents)
    flat = chunking.chunk_document(
        extracted, chunk_size=chunk_size, overlap=overlap, count_tokens=window.count_tokens
    )
    return ChunkPlan(flat)


def chunk_for_collection(collection, extracted, window: EmbeddingWindow | None = None) -> list:
    """The searched chunks of ``chunk_plan_for_collection``."""
    return chunk_plan_for_collection(collection, extracted, window).chunks


def _embed(
    document: Document, chunks: list, organization, run: _Run, window: EmbeddingWindow
) -> list[list[float]]:
    collection = document.collection
    context = gateway.UsageContext(organization=organization, channel=Channel.INGESTION)
    batch_size = settings.KNOWLEDGE_EMBED_BATCH_SIZE
    vectors: list[list[float]] = []
    for start in range(0, len(chunks), batch_size):
        # Each chunk with its contextual header (title > section): what it is about.
        batch = [
            embedding_input(document.title, c.section or "", c.text, window.count_tokens)
            for c in chunks[start : start + batch_size]
        ]
        result = gateway.ai_embed(model=collection.embedding_model, texts=batch, context=context)
        vectors.extend(result.vectors)
        # Progress is its own short write, visible to readers while the run goes on;
        # it finds no row when the document was deleted or reprocessed meanwhile.
        if not Document.objects.filter(pk=document.pk, version=run.version).update(
            chunks_done=len(vectors)
        ):
            raise IngestionCancelled()
        if run.heartbeat is not None:
            run.heartbeat()
    return vectors


def _write_chunks(
    document: Document,
    version: int,
    chunks: list,
    vectors: list,
    extracted,
    owner: str = "",
    parents: list | None = None,
) -> bool:
    """Replace the document's chunks (and parents) in one transaction; False if a newer
    run (another version, or another delivery that took the lease over) did."""
    dimensions = document.collection.embedding_dimensions
    with transaction.atomic():
        current = Document.objects.select_for_update().filter(pk=document.pk).first()
        if current is None or current.version != version:  # deleted or reprocessed
            return False
        if not leases.document_lease_held(document=current, owner=owner):
            return False  # another delivery took the lease over (ours had expired)
        text_index.document_chunks_removed(document.pk)
        DocumentChunk.objects.filter(document=document).delete()
        DocumentSection.objects.filter(document=document).delete()
        # Primary keys come back from PostgreSQL's INSERT ... RETURNING.
        sections = DocumentSection.objects.bulk_create(
            [
                DocumentSection(
                    document=document,
                    index=parent.index,
                    content=parent.text,
                    token_count=parent.token_count,
                    page_number=parent.page,
                    page_end=parent.metadata.get("page_end"),
                    section_title=(parent.section or "")[:500],
                )
                for parent in parents or []
            ],
            batch_size=500,
        )
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
                    parent=sections[chunk.parent] if chunk.parent is not None else None,
                )
                for chunk, vector in zip(chunks, vectors, strict=True)
            ],
            batch_size=500,
        )
        text_index.document_chunks_indexed(document.pk)
        current.status = DocumentStatus.COMPLETED
        current.lease_owner, current.lease_expires_at = "", None
        current.chunks_done = current.chunks_total = len(chunks)
        current.page_count = extracted.page_count
        current.processed_at = timezone.now()
        current.save()
        collection_refresh_counts(collection_id=document.collection_id)
        events.event_emit(
            type="document.completed",
            payload={
                "document_id": str(document.pk),
                "collection_id": str(document.collection_id),
                "title": current.title,
                "chunks": len(chunks),
            },
        )
    return True


def _fail(document_id, version: int, message: str) -> None:
    with transaction.atomic():
        document = (
            Document.objects.select_for_update().filter(pk=document_id, version=version).first()
        )
        if document is None:
            return
        text_index.document_chunks_removed(document.pk)
        DocumentChunk.objects.filter(document=document).delete()
        DocumentSection.objects.filter(document=document).delete()
        document.status = DocumentStatus.FAILED
        document.error = message[:1000]
        document.chunks_done = 0
        document.lease_owner, document.lease_expires_at = "", None
        document.save(
            update_fields=[
                "status",
                "error",
                "chunks_done",
                "lease_owner",
                "lease_expires_at",
                "updated_at",
            ]
        )
        collection_refresh_counts(collection_id=document.collection_id)
        events.event_emit(
            type="document.failed",
            payload={
                "document_id": str(document.pk),
                "collection_id": str(document.collection_id),
                "title": document.title,
                "error": document.error,
            },
        )


def fail_document(document_id, version: int, message: str) -> None:
    """Mark the version failed with the reason (no chunks); what the recovery sweep
    records when it gives a stalled document up."""
    _fail(document_id, version, message)


def document_process(
    *,
    document_id,
    version: int,
    organization,
    final_attempt: bool = True,
    heartbeat: Callable[[], None] | None = None,
    owner: str = "",
) -> IngestionResult:
    """Run the pipeline for one document version (the body of the Celery task).

    `heartbeat` is called while the run makes progress (the caller's lease on its slot).
    ``owner`` names the delivery (the task id): the document's lease it takes is renewed
    while the pipeline runs, and the same owner coming back takes the document over.
    """
    require_tenant_schema()
    owner = owner or f"direct-{uuid.uuid4()}"
    if not leases.document_lease_claim(document_id=document_id, version=version, owner=owner):
        return IngestionResult("skipped")
    with leases.document_lease_heartbeat(document_id=document_id, owner=owner):
        return _run_claimed(document_id, version, organization, final_attempt, heartbeat, owner)


def _run_claimed(
    document_id, version, organization, final_attempt, heartbeat, owner
) -> IngestionResult:
    document = Document.objects.select_related("collection__embedding_model", "file").get(
        pk=document_id
    )
    run = _Run(document_id, version, heartbeat)
    try:
        extracted = _source_document(document, run)
        run.check()
        window = embedding_window(document.collection.embedding_model)
        plan = chunk_plan_for_collection(document.collection, extracted, window)
        chunks = plan.chunks
        if not chunks:
            raise extraction.ExtractionError("No text could be extracted from this document.")
        Document.objects.filter(pk=document.pk).update(chunks_total=len(chunks))
        vectors = _embed(document, chunks, organization, run, window)
    except (ExtractionCancelled, IngestionCancelled):
        logger.info("ingestion of document %s v%s cancelled", document_id, version)
        return IngestionResult("cancelled")
    except extraction.DocumentError as exc:
        _fail(document_id, version, exc.message)
        return IngestionResult("failed")
    except ProviderError as exc:
        if exc.retryable and not final_attempt:
            # Leave it claimable for the retry.
            _release_for_retry(document_id, version)
            raise RetryableIngestionError(str(exc)) from exc
        _fail(document_id, version, f"Embedding failed: {exc.user_message}")
        return IngestionResult("failed")
    except quotas.TokenRateExceeded as exc:
        if not final_attempt:  # the minute's tokens are used up: try again later
            _release_for_retry(document_id, version)
            raise RetryableIngestionError(exc.message) from exc
        _fail(document_id, version, f"Not embedded: {exc.message}")
        return IngestionResult("failed")
    except quotas.QuotaExceeded as exc:
        _fail(document_id, version, f"Not embedded: {exc.message}")
        return IngestionResult("failed")
    except OUTAGES as exc:
        # Redis or PostgreSQL away for a moment is no fault of the document: keep it
        # `processing`; its lease, no longer renewed, expires and the recovery sweep
        # queues it again once the service is back (knowledge_base/leases.py).
        logger.warning("ingestion of document %s stopped by an outage: %r", document_id, exc)
        raise
    except Exception:
        logger.exception("ingestion of document %s failed", document_id)
        _fail(document_id, version, "Processing failed unexpectedly; the team has been notified.")
        raise
    if not _write_chunks(document, version, chunks, vectors, extracted, owner, plan.parents):
        return IngestionResult("cancelled")
    return IngestionResult("completed", len(chunks))

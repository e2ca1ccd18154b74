"""Writes: collections and documents (upload, text, reprocess, delete)."""

import hashlib
import logging
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from assistants.catalog.models import AIModel, Capability
from audit.models import AuditAction
from audit.services import Actor, audit_record, field_changes
from billing import quotas
from core import errors
from core.dependencies import require_broker
from core.lookups import person
from core.tenancy import current_organization, require_tenant_schema
from files import services as file_services
from knowledge_base import extraction, web_queue
from knowledge_base.collection_counts import collection_refresh_counts
from knowledge_base.models import (
    DEFAULT_CHUNKING,
    DEFAULT_PARENT_SIZE,
    MIN_PARENT_SIZE,
    TEXT_SEARCH_CONFIG,
    TEXT_SEARCH_LANGUAGES,
    Chunking,
    Collection,
    Document,
    DocumentChunk,
    DocumentSource,
    DocumentStatus,
)
from knowledge_base.retrieval import text_index
from knowledge_base.tasks import document_process_task
from knowledge_base.vector_indexes import MAX_DIMENSIONS, ensure_vector_index

logger = logging.getLogger(__name__)


class UnsupportedMediaType(errors.UnsupportedType):
    code = "unsupported_media_type"


class PayloadTooLarge(errors.PayloadTooLarge):
    code = "file_too_large"


# -- collections --------------------------------------------------------------


def _validate_chunking(collection: Collection) -> None:
    errors_by_field: dict[str, list[str]] = {}
    if not 50 <= collection.chunk_size <= 8000:
        errors_by_field["chunk_size"] = ["Use 50 to 8000 tokens."]
    elif not 0 <= collection.chunk_overlap < collection.chunk_size // 2:
        errors_by_field["chunk_overlap"] = ["Use 0 up to half the chunk size (exclusive)."]
    if collection.chunking not in Chunking.values:
        errors_by_field["chunking"] = [f"Use one of: {', '.join(Chunking.values)}."]
    if not MIN_PARENT_SIZE <= collection.parent_size <= 8000:
        errors_by_field["parent_size"] = [f"Use {MIN_PARENT_SIZE} to 8000 tokens."]
    elif (
        collection.chunking == Chunking.PARENT_CHILD
        and collection.parent_size <= collection.chunk_size
    ):
        # The searched chunks are cut from the parents: a parent must hold several.
        errors_by_field["parent_size"] = [
            "Make the parent size larger than the chunk size (the searched chunks are cut "
            "from the parents)."
        ]
    if errors_by_field:
        raise ValidationError(errors_by_field)


@transaction.atomic
def collection_create(
    *,
    name: str,
    embedding_model: AIModel,
    description: str = "",
    chunk_size: int = 400,
    chunk_overlap: int = 60,
    chunking: str = DEFAULT_CHUNKING,
    parent_size: int | None = None,
    language: str = TEXT_SEARCH_CONFIG,
    unaccent: bool = False,
    user=None,
    actor: Actor | None = None,
) -> Collection:
    require_tenant_schema()
    if not embedding_model.can(Capability.EMBEDDINGS) or not embedding_model.embedding_dimensions:
        raise ValidationError({"embedding_model": ["This model does not produce embeddings."]})
    if embedding_model.embedding_dimensions > MAX_DIMENSIONS:
        raise ValidationError(
            {
                "embedding_model": [
                    f"Embeddings above {MAX_DIMENSIONS} dimensions cannot be indexed."
                ]
            }
        )
    if language not in TEXT_SEARCH_LANGUAGES:
        raise ValidationError({"language": [f"Use one of: {', '.join(TEXT_SEARCH_LANGUAGES)}."]})
    if parent_size is None:
        # Unsaid: the default, or twice the chunks when they are that large already.
        parent_size = max(DEFAULT_PARENT_SIZE, min(8000, 2 * chunk_size))
    collection = Collection(
        name=name,
        description=description,
        embedding_model=embedding_model,
        embedding_dimensions=embedding_model.embedding_dimensions,
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        chunking=chunking,
        parent_size=parent_size,
        language=language,
        unaccent=unaccent,
        created_by=person(user),
    )
    _validate_chunking(collection)
    collection.save()
    ensure_vector_index(collection.embedding_dimensions)
    audit_record(
        actor=actor,
        action=AuditAction.COLLECTION_CREATED,
        target=collection,
        changes=field_changes({}, _audited_collection(collection)),
    )
    return collection


def _audited_collection(collection: Collection) -> dict:
    return {
        "name": collection.name,
        "description": collection.description,
        "embedding_model": collection.embedding_model.model_id,
        "chunk_size": collection.chunk_size,
        "chunk_overlap": collection.chunk_overlap,
        "chunking": collection.chunking,
        "parent_size": collection.parent_size,
        "language": collection.language,
        "unaccent": collection.unaccent,
    }


@transaction.atomic
def collection_update(
    *, collection: Collection, actor: Actor | None = None, **fields
) -> Collection:
    """Name, description and chunking; the embedding model is fixed at creation.
    New chunking applies to documents processed from now on (reprocess to apply)."""
    before = _audited_collection(collection)
    for name in ("name", "description", "chunk_size", "chunk_overlap", "chunking", "parent_size"):
        if name in fields:
            setattr(collection, name, fields.pop(name))
    if fields:
        raise ValidationError({name: ["This field cannot be changed."] for name in fields})
    _validate_chunking(collection)
    collection.save()
    changes = field_changes(before, _audited_collection(collection))
    if changes:
        audit_record(
            actor=actor, action=AuditAction.COLLECTION_UPDATED, target=collection, changes=changes
        )
    return collection


@transaction.atomic
def collection_delete(*, collection: Collection, actor: Actor | None = None) -> None:
    audit_record(
        actor=actor,
        action=AuditAction.COLLECTION_DELETED,
        target=collection,
        changes={"documents": [collection.documents.count(), None]},
    )
    # An ingestion writing its chunks holds its document's row (ingestion._write_chunks):
    # wait for it here, so its chunks are deleted with the rest; a later write finds
    # its document gone and writes nothing.
    list(Document.objects.select_for_update().filter(collection=collection).values_list("pk"))
    for document in collection.documents.select_related("file"):
        if document.file:
            file_services.file_delete(file=document.file)
    text_index.collection_postings_removed(collection.pk)
    collection.delete()


# -- documents ----------------------------------------------------------------


@dataclass(frozen=True)
class UploadOutcome:
    name: str
    document: Document | None
    duplicate_of: Document | None = None


def document_enqueue(document: Document) -> None:
    """Send the document's task once the transaction commits. (Callers check the broker
    with ``require_broker`` before writing anything.)"""
    document_id, version = str(document.id), document.version

    def send() -> None:
        try:
            document_process_task.delay(document_id, version)
        except KombuOperationalError:
            # The broker went away between the check and the commit: the document is
            # stored and stays pending; its task is sent when it is reprocessed.
            logger.exception("document %s stored but its task could not be queued", document_id)

    transaction.on_commit(send)


def _find_duplicate(collection: Collection, sha256: str) -> Document | None:
    return Document.objects.filter(collection=collection, sha256=sha256).first()


@dataclass(frozen=True)
class Upload:
    name: str
    data: bytes


def _check_upload(upload: Upload, max_bytes: int) -> str:
    """The upload's content type, or a clear 413/415/400 error."""
    if len(upload.data) > max_bytes:
        raise PayloadTooLarge(
            f"{upload.name} is {len(upload.data):,} bytes; the limit is {max_bytes:,} bytes."
        )
    try:
        return extraction.detect_content_type(upload.data, upload.name)
    except extraction.EmptyContent as exc:
        raise errors.DomainError(f"{upload.name}: {exc.message}", code="empty_file") from exc
    except extraction.DocumentError as exc:
        raise UnsupportedMediaType(f"{upload.name}: {exc.message}") from exc


def documents_upload(
    *,
    collection: Collection,
    uploads: list[Upload],
    user=None,
    max_bytes: int,
    actor: Actor | None = None,
) -> list[UploadOutcome]:
    """Store uploaded files and queue them for processing, all or nothing.

    Every file is checked before any is stored: too large (413), empty, or not an
    allowed type by its content (415) refuses the whole request. Bytes already in
    the collection (or twice in one request) are reported as duplicates.
    """
    content_types = [_check_upload(upload, max_bytes) for upload in uploads]
    # Nothing is stored that no task could process: with the broker down, 503 first.
    require_broker()
    created_files = []
    outcomes = []
    try:
        with transaction.atomic():
            duplicates = [
                _find_duplicate(collection, hashlib.sha256(upload.data).hexdigest())
                for upload in uploads
            ]
            new = [u for u, d in zip(uploads, duplicates, strict=True) if d is None]
            quotas.quota_check_documents(
                current_organization(), count=len(new), size_bytes=sum(len(u.data) for u in new)
            )
            for upload, content_type, duplicate in zip(
                uploads, content_types, duplicates, strict=True
            ):
                if duplicate is not None:
                    outcomes.append(UploadOutcome(upload.name, None, duplicate_of=duplicate))
                    continue
                file = file_services.file_create(
                    name=upload.name, data=upload.data, content_type=content_type, user=person(user)
                )
                created_files.append(file)
                document = Document.objects.create(
                    collection=collection,
                    title=upload.name[:300],
                    source=DocumentSource.UPLOAD,
                    file=file,
                    content_type=content_type,
                    size=file.size,
                    sha256=file.sha256,
                    created_by=person(user),
                )
                document_enqueue(document)
                _audit_added(actor, document)
                outcomes.append(UploadOutcome(upload.name, document))
            collection_refresh_counts(collection_id=collection.id)
    except BaseException:
        for file in created_files:
            file_services.file_discard_bytes(file=file)
        raise
    return outcomes


def _audit_added(actor: Actor | None, document: Document) -> None:
    audit_record(
        actor=actor,
        action=AuditAction.DOCUMENT_ADDED,
        target=document,
        changes=field_changes(
            {},
            {
                "collection": document.collection.name,
                "source": document.source,
                "content_type": document.content_type,
                "size": document.size,
            },
        ),
    )


@transaction.atomic
def document_create_text(
    *, collection: Collection, title: str, text: str, user=None, actor: Actor | None = None
) -> UploadOutcome:
    data = text.encode()
    if not text.strip():
        raise ValidationError({"text": ["The text is empty."]})
    duplicate = _find_duplicate(collection, hashlib.sha256(data).hexdigest())
    if duplicate is not None:
        return UploadOutcome(title, None, duplicate_of=duplicate)
    require_broker()
    quotas.quota_check_documents(current_organization(), count=1, size_bytes=len(data))
    document = Document.objects.create(
        collection=collection,
        title=title,
        source=DocumentSource.TEXT,
        text=text,
        content_type="text/markdown",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        created_by=person(user),
    )
    collection_refresh_counts(collection_id=collection.id)
    document_enqueue(document)
    _audit_added(actor, document)
    return UploadOutcome(title, document)


@transaction.atomic
def document_reprocess(*, document: Document, actor: Actor | None = None) -> Document:
    """Queue the document again; its chunks are replaced when the new run completes.
    A web page never read yet (no text to ingest) is fetched instead."""
    require_broker()
    if document.source == DocumentSource.URL and not document.sha256:
        # A page never read has no text to ingest: fetch it now instead.
        lease_until = timezone.now() + web_queue.FETCH_LEASE
        Document.objects.filter(pk=document.pk).update(next_fetch_at=lease_until)
        web_queue.queue_page_fetch(document.pk, lease_until)
        document.next_fetch_at = lease_until
        return document
    document = Document.objects.select_for_update().get(pk=document.pk)
    document.version += 1
    document.status = DocumentStatus.PENDING
    document.error = ""
    document.chunks_done = 0
    document.recovery_attempts = 0  # a fresh start: the sweep's count begins again
    document.save(
        update_fields=[
            "version",
            "status",
            "error",
            "chunks_done",
            "recovery_attempts",
            "updated_at",
        ]
    )
    document_enqueue(document)
    audit_record(
        actor=actor,
        action=AuditAction.DOCUMENT_REPROCESSED,
        target=document,
        changes={"version": [document.version - 1, document.version]},
    )
    return document


@transaction.atomic
def document_delete(*, document: Document, actor: Actor | None = None) -> None:
    """The document, its chunks and its stored file go together."""
    collection_id = document.collection_id
    # As in collection_delete: an ingestion writing chunks holds the row; wait for it.
    list(Document.objects.select_for_update().filter(pk=document.pk).values_list("pk"))
    audit_record(
        actor=actor,
        action=AuditAction.DOCUMENT_DELETED,
        target=document,
        changes={"collection": [document.collection.name, None], "size": [document.size, None]},
    )
    text_index.document_chunks_removed(document.pk)
    DocumentChunk.objects.filter(document=document).delete()
    if document.file:
        file_services.file_delete(file=document.file)
    document.delete()
    collection_refresh_counts(collection_id=collection_id)

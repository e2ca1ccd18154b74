"""Reads of collections and documents (organization schema)."""

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Count, QuerySet, Sum

from core.lookups import parse_uuid
from core.tenancy import require_tenant_schema
from knowledge_base.models import Collection, Document, DocumentChunk, Sitemap


def collection_list(*, search: str = "") -> QuerySet[Collection]:
    require_tenant_schema()
    collections = Collection.objects.select_related("embedding_model")
    if search:
        collections = collections.filter(name__icontains=search)
    return collections


def collection_get(*, collection_id) -> Collection:
    return collection_list().get(id=parse_uuid(collection_id))


def collections_by_ids(*, ids) -> list[Collection]:
    """All of ``ids`` or DoesNotExist: a search never silently drops a collection."""
    wanted = {parse_uuid(i) for i in ids}
    found = list(collection_list().filter(id__in=wanted))
    if len(found) != len(wanted):
        raise ObjectDoesNotExist("Unknown collection.")
    return found


def document_list(*, collection: Collection, status: str | None = None) -> QuerySet[Document]:
    documents = Document.objects.filter(collection=collection)
    if status:
        documents = documents.filter(status=status)
    return documents


def document_get(*, collection: Collection, document_id) -> Document:
    return document_list(collection=collection).get(id=parse_uuid(document_id))


def sitemap_list(*, collection: Collection) -> QuerySet[Sitemap]:
    return Sitemap.objects.filter(collection=collection)


def sitemap_get(*, collection: Collection, sitemap_id) -> Sitemap:
    return sitemap_list(collection=collection).get(id=parse_uuid(sitemap_id))


def chunk_list(*, document: Document) -> QuerySet[DocumentChunk]:
    return DocumentChunk.objects.filter(document=document).order_by("index")


def chunk_get(*, chunk_id) -> DocumentChunk:
    """A chunk by id (citations name chunks by id); malformed ids are not found."""
    require_tenant_schema()
    text = str(chunk_id)
    if not text.isdigit() or not 0 < int(text) < 2**63:
        raise DocumentChunk.DoesNotExist(f"Malformed chunk id: {chunk_id!r}")
    return DocumentChunk.objects.select_related("document", "parent").get(pk=int(text))


def document_totals() -> tuple[int, int]:
    """(documents, bytes) of the organization (the plan's document and storage limits)."""
    totals = Document.objects.aggregate(count=Count("id"), size=Sum("size"))
    return totals["count"] or 0, totals["size"] or 0

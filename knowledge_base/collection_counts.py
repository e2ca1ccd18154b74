"""A collection's document and chunk counts, kept exact.

Its own module because both the services (uploads, deletes) and the ingestion
pipeline (a document finishing) refresh them, and the pipeline sits below the
services (services -> tasks -> ingestion).
"""

from django.db.models import Count, Sum

from knowledge_base.models import Collection, Document, DocumentStatus


def collection_refresh_counts(*, collection_id) -> None:
    """Exact counts, recomputed under a row lock so concurrent documents finishing
    at once cannot lose an update."""
    collection = Collection.objects.select_for_update().get(pk=collection_id)
    completed = Document.objects.filter(collection=collection, status=DocumentStatus.COMPLETED)
    totals = completed.aggregate(documents=Count("id"), chunks=Sum("chunks_total"))
    collection.document_count = Document.objects.filter(collection=collection).count()
    collection.chunk_count = totals["chunks"] or 0
    collection.save(update_fields=["document_count", "chunk_count", "updated_at"])

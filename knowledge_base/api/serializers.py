from django.core.exceptions import ObjectDoesNotExist
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from assistants import selectors as assistant_selectors
from assistants.api.serializers import ModelKeyField
from assistants.catalog.models import Capability
from knowledge_base.leases import document_is_stalled
from knowledge_base.models import (
    MIN_PARENT_SIZE,
    TEXT_SEARCH_LANGUAGES,
    Chunking,
    Collection,
    Document,
    DocumentChunk,
    DocumentStatus,
    Sitemap,
)
from knowledge_base.retrieval import MAX_TOP_K, SearchMode
from knowledge_base.retrieval.rerank import DEFAULT_CANDIDATES, MAX_CANDIDATES


def _chunking_field() -> serializers.ChoiceField:
    """A collection's chunking, as created and as changed (one definition for both)."""
    return serializers.ChoiceField(
        choices=Chunking.choices,
        required=False,
        help_text='"parent_child" (default): chunks of chunk_size are searched and their '
        'parent section of up to parent_size tokens is what the model reads; "flat": the '
        "searched chunk is what it reads. Applies to documents processed from then on.",
    )


def _parent_size_field() -> serializers.IntegerField:
    return serializers.IntegerField(
        min_value=MIN_PARENT_SIZE,
        max_value=8000,
        required=False,
        help_text="Tokens of a parent section (parent_child); larger than chunk_size.",
    )


class CollectionInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    embedding_model = ModelKeyField(
        capability=Capability.EMBEDDINGS,
        required=False,
        help_text='Catalog id of an embedding model; default "local/all-minilm-l6-v2" (offline).',
    )
    chunk_size = serializers.IntegerField(min_value=50, max_value=8000, required=False)
    chunk_overlap = serializers.IntegerField(min_value=0, max_value=3999, required=False)
    chunking = _chunking_field()
    parent_size = _parent_size_field()
    language = serializers.ChoiceField(
        choices=TEXT_SEARCH_LANGUAGES,
        required=False,
        help_text='Text-search language of the keyword index (fixed at creation); "simple" '
        "keeps every word as written (no stemming, no stop words).",
    )
    unaccent = serializers.BooleanField(
        required=False, help_text="Ignore accents in keyword search (café = cafe)."
    )


class CollectionUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False)
    description = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    chunk_size = serializers.IntegerField(min_value=50, max_value=8000, required=False)
    chunk_overlap = serializers.IntegerField(min_value=0, max_value=3999, required=False)
    chunking = _chunking_field()
    parent_size = _parent_size_field()


class CollectionOutputSerializer(serializers.ModelSerializer):
    embedding_model = serializers.CharField(source="embedding_model.key", read_only=True)

    class Meta:
        model = Collection
        fields = [
            "id",
            "name",
            "description",
            "embedding_model",
            "embedding_dimensions",
            "chunk_size",
            "chunk_overlap",
            "chunking",
            "parent_size",
            "language",
            "unaccent",
            "document_count",
            "chunk_count",
            "created_at",
            "updated_at",
        ]


class DocumentOutputSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()
    stalled = serializers.SerializerMethodField()

    class Meta:
        model = Document
        fields = [
            "id",
            "collection",
            "title",
            "source",
            "content_type",
            "size",
            "sha256",
            "status",
            "error",
            "chunks_done",
            "chunks_total",
            "progress",
            "stalled",
            "recovery_attempts",
            "page_count",
            "metadata",
            "source_url",
            "sitemap",
            "refresh_minutes",
            "fetch_status",
            "fetch_error",
            "fetched_at",
            "next_fetch_at",
            "created_at",
            "updated_at",
            "processed_at",
        ]

    @extend_schema_field(OpenApiTypes.FLOAT)
    def get_progress(self, document: Document) -> float:
        """0..1 while processing; 1 when completed."""
        if document.status == DocumentStatus.COMPLETED:
            return 1.0
        if not document.chunks_total:
            return 0.0
        return round(document.chunks_done / document.chunks_total, 3)

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_stalled(self, document: Document) -> bool:
        """True while the document is not done and its processing stalled (the worker
        stopped, or the task was lost): it is being retried (``recovery_attempts``
        times so far) or waits for the recovery sweep to retry it."""
        return document_is_stalled(document)


class DocumentUploadSerializer(serializers.Serializer):
    files = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True),
        min_length=1,
        max_length=20,
        help_text="One or more files (multipart field `files`, repeated).",
    )


class DocumentTextSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=300)
    text = serializers.CharField(max_length=5_000_000, trim_whitespace=False)


def _refresh_minutes_field():
    return serializers.IntegerField(
        min_value=0,
        max_value=525_600,
        required=False,
        help_text="Minutes between fetches (0: fetched once); default KNOWLEDGE_WEB_REFRESH_MINUTES.",
    )


class DocumentURLSerializer(serializers.Serializer):
    url = serializers.URLField(
        max_length=1000,
        help_text="An http(s) web page; its main content is fetched, extracted and kept fresh.",
    )
    refresh_minutes = _refresh_minutes_field()


class SitemapInputSerializer(serializers.Serializer):
    url = serializers.URLField(
        max_length=1000, help_text="A sitemap.xml or sitemap index of the pages to keep."
    )
    refresh_minutes = _refresh_minutes_field()


class SitemapOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Sitemap
        fields = [
            "id",
            "collection",
            "url",
            "refresh_minutes",
            "fetch_status",
            "fetch_error",
            "fetched_at",
            "next_fetch_at",
            "page_count",
            "created_at",
        ]


class UploadResultSerializer(serializers.Serializer):
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=["created", "duplicate"])
    document = DocumentOutputSerializer(allow_null=True)
    duplicate_of = serializers.UUIDField(allow_null=True)


class UploadResponseSerializer(serializers.Serializer):
    results = UploadResultSerializer(many=True)


class SearchInputSerializer(serializers.Serializer):
    query = serializers.CharField(max_length=2000)
    collections = serializers.ListField(child=serializers.UUIDField(), min_length=1, max_length=50)
    mode = serializers.ChoiceField(choices=[m.value for m in SearchMode], default=SearchMode.HYBRID)
    top_k = serializers.IntegerField(
        min_value=1,
        max_value=MAX_TOP_K,
        default=8,
        help_text="Results to return: chunks, or documents with collapse=document.",
    )
    collapse = serializers.ChoiceField(
        choices=["none", "document"],
        default="none",
        help_text='"document": the best chunk of each document only.',
    )
    documents = serializers.ListField(child=serializers.UUIDField(), required=False, max_length=200)
    metadata = serializers.DictField(
        required=False, help_text="Chunks whose metadata contains this."
    )
    vector_weight = serializers.FloatField(min_value=0, max_value=10, default=1.0)
    keyword_weight = serializers.FloatField(min_value=0, max_value=10, default=1.0)
    rerank = serializers.BooleanField(
        default=False,
        help_text="Reorder the best candidates with a reranker (ADR 0100). If it fails, "
        "the results keep their un-reranked order and `rerank.applied` is false.",
    )
    reranker = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="The reranker (id) to use; by default the organization's only one.",
    )
    rerank_candidates = serializers.IntegerField(
        min_value=1,
        max_value=MAX_CANDIDATES,
        default=DEFAULT_CANDIDATES,
        help_text="Candidates the reranker reads (never fewer than top_k).",
    )

    def validate(self, attrs):
        """``reranker`` becomes the Reranker to use when ``rerank`` is on, else None."""
        reranker_id = attrs.get("reranker")
        if not attrs["rerank"]:
            if reranker_id is not None:
                raise serializers.ValidationError(
                    {"reranker": ["Set rerank to true to use a reranker."]}
                )
            attrs["reranker"] = None
            return attrs
        if reranker_id is None:
            attrs["reranker"] = assistant_selectors.reranker_default()
            if attrs["reranker"] is None:
                raise serializers.ValidationError(
                    {
                        "rerank": [
                            "No reranker to use: add one under rerankers, or name one "
                            "with reranker when there are several."
                        ]
                    }
                )
            return attrs
        try:
            attrs["reranker"] = assistant_selectors.reranker_get(reranker_id=reranker_id)
        except ObjectDoesNotExist:
            raise serializers.ValidationError({"reranker": ["Unknown reranker."]}) from None
        return attrs


class ParentSectionSerializer(serializers.Serializer):
    """The section a chunk was cut from (parent-child collections): what the model reads."""

    id = serializers.IntegerField()
    text = serializers.CharField()
    token_count = serializers.IntegerField()
    page = serializers.IntegerField(allow_null=True)
    page_end = serializers.IntegerField(allow_null=True)
    section = serializers.CharField(allow_blank=True)
    child_start = serializers.IntegerField(
        allow_null=True, help_text="Where the chunk's text starts in the section's (characters)."
    )
    child_end = serializers.IntegerField(
        allow_null=True, help_text="Where it ends: text[child_start:child_end] is the chunk."
    )


class HitSerializer(serializers.Serializer):
    chunk_id = serializers.IntegerField()
    document_id = serializers.UUIDField()
    document_title = serializers.CharField()
    collection_id = serializers.UUIDField()
    text = serializers.CharField()
    page = serializers.IntegerField(allow_null=True)
    page_end = serializers.IntegerField(
        allow_null=True, help_text="Last page of the chunk (its page range is page..page_end)."
    )
    section = serializers.CharField(allow_blank=True)
    score = serializers.FloatField()
    rerank_score = serializers.FloatField(
        allow_null=True, help_text="The reranker's relevance score; null when not reranked."
    )
    snippet = serializers.CharField(allow_blank=True)
    parent = ParentSectionSerializer(
        allow_null=True,
        help_text="Parent-child collections: the section this chunk was cut from, which "
        "assistants read instead of the chunk; null for flat chunks.",
    )


class RerankOutcomeSerializer(serializers.Serializer):
    applied = serializers.BooleanField(
        help_text="False when the reranker failed: the results are in un-reranked order."
    )
    reranker_id = serializers.UUIDField()
    candidates = serializers.IntegerField(help_text="Candidates sent to the reranker.")
    latency_ms = serializers.IntegerField(help_text="Time the reranker took.")
    skipped_reason = serializers.ChoiceField(
        choices=["", "timeout", "error"], help_text='Why it did not apply ("" when it did).'
    )


class SearchOutputSerializer(serializers.Serializer):
    mode = serializers.CharField()
    results = HitSerializer(many=True)
    rerank = RerankOutcomeSerializer(
        allow_null=True, help_text="Whether reranking applied; null when not asked for."
    )


def _parent_output(parent) -> dict | None:
    """``ParentSectionSerializer(parent).data``, built directly (see search_output)."""
    if parent is None:
        return None
    return {
        "id": parent.id,
        "text": str(parent.text),
        "token_count": parent.token_count,
        "page": parent.page,
        "page_end": parent.page_end,
        "section": str(parent.section),
        "child_start": parent.child_start,
        "child_end": parent.child_end,
    }


def search_output(*, mode: str, hits, rerank) -> dict:
    """``SearchOutputSerializer(...).data`` built directly: the same keys in the same
    order and the same values (a test compares them), without DRF's per-field calls,
    which cost a search answer more than its statements did (ADR 0102, addendum)."""
    return {
        "mode": mode,
        "results": [
            {
                "chunk_id": hit.chunk_id,
                "document_id": str(hit.document_id),
                "document_title": str(hit.document_title),
                "collection_id": str(hit.collection_id),
                "text": str(hit.text),
                "page": hit.page,
                "page_end": hit.page_end,
                "section": str(hit.section),
                "score": float(hit.score),
                "rerank_score": None if hit.rerank_score is None else float(hit.rerank_score),
                "snippet": str(hit.snippet),
                "parent": _parent_output(hit.parent),
            }
            for hit in hits
        ],
        "rerank": None if rerank is None else RerankOutcomeSerializer(rerank).data,
    }


class ChunkOutputSerializer(serializers.ModelSerializer):
    """One passage of a document, as retrieval and citations see it."""

    document_id = serializers.UUIDField()
    document_title = serializers.CharField(source="document.title")
    collection_id = serializers.UUIDField()
    page = serializers.IntegerField(source="page_number", allow_null=True)
    section = serializers.CharField(source="section_title")
    text = serializers.CharField(source="content")
    parent = serializers.SerializerMethodField()

    class Meta:
        model = DocumentChunk
        fields = [
            "id",
            "collection_id",
            "document_id",
            "document_title",
            "index",
            "page",
            "section",
            "text",
            "token_count",
            "parent",
        ]

    @extend_schema_field(ParentSectionSerializer(allow_null=True))
    def get_parent(self, chunk: DocumentChunk) -> dict | None:
        """The section this chunk was cut from (parent-child collections), with where the
        chunk sits in it: what a citation opens; null for flat chunks."""
        section = chunk.parent
        if section is None:
            return None
        return ParentSectionSerializer(
            {
                "id": section.id,
                "text": section.content,
                "token_count": section.token_count,
                "page": section.page_number,
                "page_end": section.page_end
                if section.page_end is not None
                else section.page_number,
                "section": section.section_title,
                "child_start": chunk.metadata.get("parent_start"),
                "child_end": chunk.metadata.get("parent_end"),
            }
        ).data

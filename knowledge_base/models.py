"""Collections, documents and chunks (organization schema).

Vectors: one ``embedding`` column without a fixed dimension, plus the chunk's
``embedding_dimensions``. Each dimension in use has its own partial HNSW
expression index (``embedding::vector(N)`` or ``::halfvec(N)`` above 2,000
dimensions, pgvector's limit for ``vector`` indexes), so every collection's
vectors are searched through an HNSW index whatever its embedding model.
See docs/adr/0005-vector-storage.md and knowledge_base/vector_indexes.py.
"""

import uuid

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from pgvector.django import VectorField

from assistants.catalog.models import AIModel
from core.lookups import user_reference

# Full-text configuration of the keyword index and of queries (they must match): the
# default; each collection chooses its own (``Collection.language``).
TEXT_SEARCH_CONFIG = "english"

# PostgreSQL's built-in text-search configurations a collection may use: "simple" keeps
# every word as written (no stemming, no stop words); the others stem their language.
TEXT_SEARCH_LANGUAGES = (
    "simple",
    "arabic",
    "danish",
    "dutch",
    "english",
    "finnish",
    "french",
    "german",
    "greek",
    "hungarian",
    "indonesian",
    "irish",
    "italian",
    "lithuanian",
    "nepali",
    "norwegian",
    "portuguese",
    "romanian",
    "russian",
    "spanish",
    "swedish",
    "tamil",
    "turkish",
)


class Chunking(models.TextChoices):
    """How a collection's documents are cut (ADR 0103)."""

    # One size: the searched chunk is what the model reads.
    FLAT = "flat", "Flat"
    # Small chunks (``chunk_size``) are searched; their parent section (``parent_size``)
    # is what the model reads and the citation opens.
    PARENT_CHILD = "parent_child", "Parent-child"


# New collections' chunking (ADR 0103 says why); existing ones keep theirs.
DEFAULT_CHUNKING = Chunking.PARENT_CHILD
DEFAULT_PARENT_SIZE = 1000
MIN_PARENT_SIZE = 100


class Collection(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=120)
    description = models.CharField(max_length=1000, blank=True)
    # Fixed at creation: vectors of different models cannot be compared.
    embedding_model = models.ForeignKey(AIModel, on_delete=models.PROTECT, related_name="+")
    embedding_dimensions = models.PositiveIntegerField()
    chunk_size = models.PositiveIntegerField(
        default=400, validators=[MinValueValidator(50), MaxValueValidator(8000)]
    )
    chunk_overlap = models.PositiveIntegerField(default=60)
    # flat: chunks of ``chunk_size``; parent_child: searched children of ``chunk_size``
    # inside parents of ``parent_size`` (DocumentSection). Applies from the next
    # (re)processing of each document.
    chunking = models.CharField(max_length=16, choices=Chunking.choices, default=DEFAULT_CHUNKING)
    parent_size = models.PositiveIntegerField(
        default=DEFAULT_PARENT_SIZE,
        validators=[MinValueValidator(MIN_PARENT_SIZE), MaxValueValidator(8000)],
    )
    # Fixed at creation, like the embedding model: the keyword index is built with it.
    language = models.CharField(
        max_length=32,
        default=TEXT_SEARCH_CONFIG,
        choices=[(name, name.title()) for name in TEXT_SEARCH_LANGUAGES],
    )
    unaccent = models.BooleanField(default=False)  # "café" matches "cafe" (both ways)
    # BM25 statistics, kept by the ingestion transaction (knowledge_base/retrieval/text_index.py):
    # chunks in the keyword index and the sum of their lengths (lexeme positions).
    text_chunks = models.PositiveIntegerField(default=0)
    text_length = models.PositiveBigIntegerField(default=0)
    document_count = models.PositiveIntegerField(default=0)
    chunk_count = models.PositiveIntegerField(default=0)
    created_by = user_reference()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class DocumentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class DocumentSource(models.TextChoices):
    UPLOAD = "upload", "Upload"
    TEXT = "text", "Text"
    URL = "url", "URL"


class FetchStatus(models.TextChoices):
    """The outcome of a web page's or sitemap's last fetch (knowledge_base/web_sources.py)."""

    PENDING = "pending", "Not fetched yet"
    CHANGED = "changed", "Fetched, content changed"
    UNCHANGED = "unchanged", "Fetched, unchanged"
    FAILED = "failed", "Fetch failed"
    BLOCKED = "blocked", "Refused by robots.txt"


class Sitemap(models.Model):
    """A sitemap (or sitemap index) whose pages the collection keeps: each page is a URL
    document (``Document.sitemap``); a page that leaves the sitemap leaves the collection."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="sitemaps")
    url = models.URLField(max_length=1000)
    # Minutes between fetches of the sitemap and of its pages; 0: fetched once only.
    refresh_minutes = models.PositiveIntegerField(default=1440)
    etag = models.CharField(max_length=300, blank=True)
    last_modified = models.CharField(max_length=100, blank=True)
    fetch_status = models.CharField(
        max_length=16, choices=FetchStatus.choices, default=FetchStatus.PENDING
    )
    fetch_error = models.CharField(max_length=500, blank=True)
    fetched_at = models.DateTimeField(null=True, blank=True)
    # When the next fetch is due; also the fetch's lease: a fetch moves it forward
    # before it starts, so a second delivery finds nothing due and a fetch whose
    # worker died is due again once the lease has passed.
    next_fetch_at = models.DateTimeField(null=True, blank=True, db_index=True)
    page_count = models.PositiveIntegerField(default=0)
    created_by = user_reference()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["collection", "url"], name="sitemap_collection_url")
        ]

    def __str__(self) -> str:
        return self.url


class Document(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="documents")
    title = models.CharField(max_length=300)
    source = models.CharField(max_length=16, choices=DocumentSource.choices)
    source_url = models.URLField(max_length=1000, blank=True)
    file = models.ForeignKey(
        "files.File", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Pasted text is kept here; uploads keep their bytes in the stored file.
    text = models.TextField(blank=True)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    status = models.CharField(
        max_length=16, choices=DocumentStatus.choices, default=DocumentStatus.PENDING, db_index=True
    )
    error = models.CharField(max_length=1000, blank=True)
    chunks_done = models.PositiveIntegerField(default=0)
    chunks_total = models.PositiveIntegerField(default=0)
    page_count = models.PositiveIntegerField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # Bumped by every (re)process request; a task carries the version it was sent
    # for, so a stale or duplicate delivery does nothing.
    version = models.PositiveIntegerField(default=1)
    processing_started_at = models.DateTimeField(null=True, blank=True)
    # The delivery (Celery task id) that holds the document while it is processed, and
    # until when; renewed by a heartbeat. See knowledge_base/leases.py.
    lease_owner = models.CharField(max_length=255, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # Times the recovery sweep queued it again after a stall (worker died, task lost).
    recovery_attempts = models.PositiveSmallIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)
    # URL documents (source "url"): the page is fetched again every ``refresh_minutes``
    # (0: never) with a conditional request; its readable text is kept in ``text`` and
    # ``sha256`` is that text's, so an unchanged page is not ingested again.
    sitemap = models.ForeignKey(
        Sitemap, null=True, blank=True, on_delete=models.SET_NULL, related_name="documents"
    )
    refresh_minutes = models.PositiveIntegerField(null=True, blank=True)
    etag = models.CharField(max_length=300, blank=True)
    last_modified = models.CharField(max_length=100, blank=True)
    fetch_status = models.CharField(max_length=16, choices=FetchStatus.choices, blank=True)
    fetch_error = models.CharField(max_length=500, blank=True)
    fetched_at = models.DateTimeField(null=True, blank=True)
    # Due time and lease of the next fetch, as ``Sitemap.next_fetch_at``.
    next_fetch_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_by = user_reference()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            # A page is in a collection once (a sitemap skips pages already there).
            models.UniqueConstraint(
                fields=["collection", "source_url"],
                condition=models.Q(source="url"),
                name="document_collection_url",
            )
        ]
        indexes = [
            models.Index(fields=["collection", "sha256"]),
            # Keyword search skips the chunks of documents being (re)processed: few.
            models.Index(
                fields=["collection"],
                condition=~models.Q(status="completed"),
                name="document_unfinished",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class DocumentSection(models.Model):
    """A parent of a parent-child collection's chunks: the section (or the part of one,
    within one page) that the model reads and a citation opens around the searched
    chunks inside it (its ``children``). Neither embedded nor in the keyword index, so
    never a search hit and never in the BM25 statistics; written and deleted with the
    document's chunks by the ingestion transaction (ADR 0103)."""

    id = models.BigAutoField(primary_key=True)
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="sections")
    index = models.PositiveIntegerField()
    content = models.TextField()
    token_count = models.PositiveIntegerField()
    page_number = models.PositiveIntegerField(null=True, blank=True)
    page_end = models.PositiveIntegerField(null=True, blank=True)
    section_title = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["document", "index"]
        constraints = [
            models.UniqueConstraint(
                fields=["document", "index"], name="section_document_index_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.document_id}§{self.index}"


class DocumentChunk(models.Model):
    id = models.BigAutoField(primary_key=True)
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    # Denormalised from the document so searches filter without a join.
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="+")
    index = models.PositiveIntegerField()
    content = models.TextField()
    token_count = models.PositiveIntegerField()
    page_number = models.PositiveIntegerField(null=True, blank=True)
    section_title = models.CharField(max_length=500, blank=True)
    # Parent-child collections: the section this chunk was cut from (what the model
    # reads); its text is content[metadata.parent_start:metadata.parent_end] of it.
    parent = models.ForeignKey(
        DocumentSection,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="children",
    )
    embedding = VectorField(null=True)
    embedding_dimensions = models.PositiveIntegerField()
    # Title (weight A), section heading (B) and text (D) in the collection's language,
    # written with the chunk by knowledge_base/retrieval/text_index.py; its length in
    # lexeme positions is BM25's document length.
    search_vector = SearchVectorField(null=True)
    search_length = models.PositiveIntegerField(default=0)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["document", "index"]
        constraints = [
            models.UniqueConstraint(
                fields=["document", "index"], name="chunk_document_index_unique"
            )
        ]
        indexes = [
            GinIndex(fields=["search_vector"], name="chunk_search_vector_gin"),
            models.Index(
                fields=["collection", "embedding_dimensions"], name="chunk_collection_dims"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.index}"


class CollectionTerm(models.Model):
    """BM25 document frequency: how many of the collection's chunks contain ``lexeme``.

    Kept incrementally in the transaction that writes or deletes chunks, so a keyword
    search reads its statistics with one index lookup (docs/adr/0023)."""

    id = models.BigAutoField(primary_key=True)
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="+")
    lexeme = models.TextField()
    chunks = models.PositiveIntegerField()
    # Upper bounds of one chunk's BM25 term score (the highest frequency, the shortest
    # chunk containing the word): raised when chunks are added, never lowered when they
    # leave, so they stay bounds (docs/adr/0062).
    max_frequency = models.PositiveIntegerField(default=0)
    min_length = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["collection", "lexeme"], name="collection_term_unique")
        ]

    def __str__(self) -> str:
        return f"{self.lexeme} ({self.chunks})"


class ChunkTerm(models.Model):
    """A posting of the keyword index: ``term`` occurs ``frequency`` times (title and
    heading occurrences counted twice) in ``chunk``, whose BM25 length is ``length``.

    Written and deleted with the chunk by knowledge_base/retrieval/text_index.py, read by
    keyword search through the covering primary key (term, chunk) INCLUDE (frequency,
    length): the postings of a query's words without touching the chunks (docs/adr/0062).
    No database foreign keys: one posting per word of every chunk would pay two key
    checks each. The writers delete a chunk's postings before the chunk (by primary key:
    the chunk's words are in its search vector), and a collection's go with its terms."""

    pk = models.CompositePrimaryKey("term_id", "chunk_id")
    term = models.ForeignKey(
        CollectionTerm,
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
        db_index=False,  # the primary key starts with it
    )
    chunk = models.ForeignKey(
        DocumentChunk,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    frequency = models.PositiveSmallIntegerField()
    length = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.term_id}@{self.chunk_id}"


# -- retrieval evaluation (knowledge_base/evaluation/, docs/adr/0099) --------------------------


class QuestionSource(models.TextChoices):
    ENTERED = "entered", "Entered"
    UPLOADED = "uploaded", "Uploaded"
    DRAFTED = "drafted", "Drafted by the model"


class EvaluationQuestion(models.Model):
    """A test question of a collection and the documents that should answer it
    (``judgements``). Only approved questions count in a run: a drafted one waits for a
    person to review it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    collection = models.ForeignKey(
        Collection, on_delete=models.CASCADE, related_name="evaluation_questions"
    )
    text = models.CharField(max_length=2000)
    source = models.CharField(
        max_length=16, choices=QuestionSource.choices, default=QuestionSource.ENTERED
    )
    approved = models.BooleanField(default=True)
    created_by = user_reference()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "id"]

    def __str__(self) -> str:
        return self.text[:120]


class EvaluationJudgement(models.Model):
    """A document that answers a question, with its relevance grade (1 unless graded;
    nDCG uses the grade as its gain). Deleting the document deletes the judgement."""

    id = models.BigAutoField(primary_key=True)
    question = models.ForeignKey(
        EvaluationQuestion, on_delete=models.CASCADE, related_name="judgements"
    )
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="+")
    grade = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(3)]
    )

    class Meta:
        ordering = ["question", "-grade", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["question", "document"], name="evaluation_judgement_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.question_id} -> {self.document_id} ({self.grade})"


class EvaluationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class EvaluationRun(models.Model):
    """One evaluation of a collection: every approved question searched in each of
    ``modes`` at each of ``top_ks``; one ``EvaluationResult`` per (mode, top_k), and with
    ``reranker`` a second one reranked by it (the reranker on/off comparison).
    ``config`` is the collection's configuration when the run started (embedding model,
    chunking, language, reranker), so old runs stay comparable after it changes.
    Claimed under a lease like a document's ingestion (knowledge_base/evaluation/runs.py)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    collection = models.ForeignKey(
        Collection, on_delete=models.CASCADE, related_name="evaluation_runs"
    )
    status = models.CharField(
        max_length=16, choices=EvaluationStatus.choices, default=EvaluationStatus.PENDING
    )
    modes = models.JSONField(default=list)
    top_ks = models.JSONField(default=list)
    # When set, every (mode, top_k) is computed twice: without and with this reranker.
    reranker = models.ForeignKey(
        "assistants.Reranker",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="evaluation_runs",
    )
    rerank_candidates = models.PositiveSmallIntegerField(null=True, blank=True)
    config = models.JSONField(default=dict)
    questions_total = models.PositiveIntegerField(default=0)
    steps_done = models.PositiveIntegerField(default=0)
    steps_total = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=1000, blank=True)
    lease_owner = models.CharField(max_length=255, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    recovery_attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_by = user_reference()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [
            models.Index(
                fields=["status", "lease_expires_at"],
                # Not status__in: PostgreSQL prints an IN list's casts differently after a
                # round trip, and the template schema's clone check would refuse it.
                condition=models.Q(status="pending") | models.Q(status="running"),
                name="evaluation_run_unfinished",
            )
        ]

    def __str__(self) -> str:
        return f"evaluation {self.pk} ({self.status})"


class EvaluationResult(models.Model):
    """The figures of one mode at one top_k, without or with the run's reranker: means over
    the run's questions of nDCG@10, recall@10 and the reciprocal rank (MRR), with each
    question's own in ``per_question``. ``rerank_failures`` counts the questions whose
    reranking did not apply (the reranker failed; their fused order was scored)."""

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(EvaluationRun, on_delete=models.CASCADE, related_name="results")
    mode = models.CharField(max_length=16)
    top_k = models.PositiveSmallIntegerField()
    reranked = models.BooleanField(default=False)
    rerank_failures = models.PositiveIntegerField(default=0)
    ndcg_at_10 = models.FloatField()
    recall_at_10 = models.FloatField()
    mrr = models.FloatField()
    questions = models.PositiveIntegerField()
    per_question = models.JSONField(default=list)

    class Meta:
        ordering = ["run", "mode", "top_k", "reranked"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "mode", "top_k", "reranked"], name="evaluation_result_unique"
            )
        ]

    def __str__(self) -> str:
        reranked = " reranked" if self.reranked else ""
        return f"{self.mode}@{self.top_k}{reranked}: nDCG@10 {self.ndcg_at_10:.3f}"

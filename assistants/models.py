"""Assistants and provider credentials (each organization's schema).

The model catalog they refer to lives in the public schema (assistants.catalog).
"""

import uuid
from decimal import Decimal

from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from assistants.catalog.models import AIModel, Provider
from core.lookups import user_reference

# Every provider but the local one, which needs no credential.
CREDENTIAL_PROVIDERS = [c for c in Provider.choices if c[0] != Provider.LOCAL]


class ProviderCredential(models.Model):
    """An organization's own key for one provider, encrypted at rest (core.crypto).

    One per provider; the API never returns the key, only its last four characters.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    provider = models.CharField(
        max_length=32,
        choices=CREDENTIAL_PROVIDERS,
        unique=True,
    )
    api_key_encrypted = models.TextField(blank=True)
    api_key_last4 = models.CharField(max_length=4, blank=True)
    base_url = models.URLField(max_length=500, blank=True)
    organization_id = models.CharField(
        max_length=120, blank=True, help_text="OpenAI organization id, where relevant."
    )
    created_by = user_reference()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_tested_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True, blank=True)
    last_test_message = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["provider"]

    def __str__(self) -> str:
        return f"{self.provider} key …{self.api_key_last4}"


class RerankerFormat(models.TextChoices):
    # POST {base_url}/rerank {model, query, documents, top_n} -> {results: [{index,
    # relevance_score}]}: Cohere, Jina, vLLM, and most hosted rerankers.
    COHERE = "cohere", "Cohere/Jina-style /rerank (also vLLM)"
    # POST {base_url}/rerank {query, texts} -> [{index, score}]: text-embeddings-inference.
    TEI = "tei", "text-embeddings-inference /rerank"


class Reranker(models.Model):
    """A cross-encoder reached over HTTP that reorders retrieval candidates (ADR 0100).

    Configured like a provider credential: the key is encrypted at rest (core.crypto),
    the API shows only its last four characters, and every call goes through the
    outbound HTTP policy (core.outbound).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=120, unique=True)
    api_format = models.CharField(
        max_length=16, choices=RerankerFormat.choices, default=RerankerFormat.COHERE
    )
    # The server's API root: requests go to {base_url}/rerank.
    base_url = models.URLField(max_length=500)
    model = models.CharField(
        max_length=200, blank=True, help_text="The model the server should use (Cohere format)."
    )
    api_key_encrypted = models.TextField(blank=True)
    api_key_last4 = models.CharField(max_length=4, blank=True)
    created_by = user_reference()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class RetrievalMode(models.TextChoices):
    VECTOR = "vector", "Vector"
    KEYWORD = "keyword", "Keyword"
    HYBRID = "hybrid", "Hybrid"


class Assistant(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=120)
    description = models.CharField(max_length=500, blank=True)
    avatar = models.CharField(
        max_length=500, blank=True, help_text="An image URL or an emoji shown next to answers."
    )
    model = models.ForeignKey(AIModel, on_delete=models.PROTECT, related_name="+")
    fallback_model = models.ForeignKey(
        AIModel, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    system_instructions = models.TextField(blank=True)
    temperature = models.DecimalField(
        max_digits=3,
        decimal_places=2,
        default=Decimal("0.30"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("2"))],
    )
    top_p = models.DecimalField(
        max_digits=3,
        decimal_places=2,
        default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
    )
    max_output_tokens = models.PositiveIntegerField(default=1024)
    retrieval_mode = models.CharField(
        max_length=16, choices=RetrievalMode.choices, default=RetrievalMode.HYBRID
    )
    retrieval_top_k = models.PositiveSmallIntegerField(
        default=6, validators=[MinValueValidator(1), MaxValueValidator(50)]
    )
    retrieval_min_score = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
    )
    # Reranking (ADR 0100): the fused top ``rerank_candidates`` chunks are reordered by
    # this reranker before the best ``retrieval_top_k`` are kept; none: no reranking.
    reranker = models.ForeignKey(
        Reranker, null=True, blank=True, on_delete=models.SET_NULL, related_name="assistants"
    )
    rerank_candidates = models.PositiveSmallIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    collections = models.ManyToManyField(
        "knowledge_base.Collection", blank=True, related_name="assistants"
    )
    is_active = models.BooleanField(default=True)
    # Offered as one-click questions in an empty chat with this assistant.
    suggested_questions = ArrayField(
        models.CharField(max_length=200), default=list, blank=True, size=6
    )
    created_by = user_reference()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Instructions from a pinned (immutable) prompt template version and its values: the
    # rendered text is stored in system_instructions when they are set (docs/prompts.md).
    instructions_version = models.ForeignKey(
        "prompts.PromptVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    instructions_values = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

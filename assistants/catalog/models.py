"""The AI model catalog (public schema): what each model can do and what it costs."""

from decimal import Decimal
from enum import StrEnum

from django.contrib.postgres.fields import ArrayField
from django.db import models


class Provider(models.TextChoices):
    OPENAI = "openai", "OpenAI"
    OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible server (Ollama, vLLM, ...)"
    ANTHROPIC = "anthropic", "Anthropic"
    GOOGLE = "google", "Google"
    LOCAL = "local", "Local (offline)"


class Capability(models.TextChoices):
    CHAT = "chat", "Chat"
    STREAMING = "streaming", "Streaming"
    EMBEDDINGS = "embeddings", "Embeddings"
    VISION = "vision", "Vision"
    TOOLS = "tools", "Tools"


class AnswerMode(StrEnum):
    EXTRACTIVE = "extractive"  # the offline responder: quotes the sources, no LLM
    LLM = "llm"


class AIModelQuerySet(models.QuerySet):
    def available(self):
        return self.filter(is_available=True)

    def with_capability(self, capability: str):
        return self.filter(capabilities__contains=[capability])


class AIModel(models.Model):
    provider = models.CharField(max_length=32, choices=Provider.choices)
    # The id the provider's API expects, e.g. "gpt-4o-mini".
    model_id = models.CharField(max_length=120)
    display_name = models.CharField(max_length=120)
    description = models.CharField(max_length=300, blank=True)
    capabilities = ArrayField(
        models.CharField(max_length=16, choices=Capability.choices), default=list
    )
    context_window = models.PositiveIntegerField(default=0)
    max_output_tokens = models.PositiveIntegerField(null=True, blank=True)
    embedding_dimensions = models.PositiveIntegerField(null=True, blank=True)
    input_price_per_million = models.DecimalField(
        max_digits=12, decimal_places=6, default=Decimal("0")
    )
    output_price_per_million = models.DecimalField(
        max_digits=12, decimal_places=6, default=Decimal("0")
    )
    currency = models.CharField(max_length=3, default="USD")
    # Some newer models refuse sampling parameters; the assistant form hides them then.
    supports_temperature = models.BooleanField(default=True)
    # The local extractive responder composes answers from sources; never an LLM.
    is_extractive = models.BooleanField(default=False)
    is_available = models.BooleanField(default=True)
    deprecation_date = models.DateField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AIModelQuerySet.as_manager()

    class Meta:
        ordering = ["provider", "model_id"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "model_id"], name="aimodel_unique")
        ]
        verbose_name = "AI model"

    def __str__(self) -> str:
        return f"{self.provider}/{self.model_id}"

    @property
    def answer_mode(self) -> AnswerMode:
        """How this model answers; the one place that decides it (the API, the chat
        stream and the assistant test all report it)."""
        return AnswerMode.EXTRACTIVE if self.is_extractive else AnswerMode.LLM

    @property
    def key(self) -> str:
        """The id clients use: "provider/model_id"."""
        return f"{self.provider}/{self.model_id}"

    def can(self, capability: str) -> bool:
        return capability in self.capabilities

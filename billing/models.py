"""Billing (public schema): plans with their limits, and the usage ledger that
every AI call writes. Stripe subscriptions arrive with their issue.
"""

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone


class UsageKind(models.TextChoices):
    CHAT = "chat", "Chat"
    EMBEDDING = "embedding", "Embedding"


class Channel(models.TextChoices):
    WEB = "web", "Web"
    WIDGET = "widget", "Widget"
    API = "api", "API"
    SLACK = "slack", "Slack"
    TEAMS = "teams", "Teams"
    INGESTION = "ingestion", "Ingestion"
    SYSTEM = "system", "System"


class Plan(models.Model):
    """What an organization may use: rate limits and monthly quotas.

    ``Organization.plan`` holds the plan's code. An empty limit means unlimited.
    """

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=80)
    # Rate limits (per minute).
    requests_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="API requests per minute for the whole organization."
    )
    key_requests_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="API requests per minute for one API key."
    )
    tokens_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="AI tokens per minute for the whole organization."
    )
    key_tokens_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="AI tokens per minute for one API key."
    )
    # Monthly quotas (calendar month, UTC).
    monthly_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    monthly_cost = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    monthly_messages = models.PositiveIntegerField(null=True, blank=True)
    max_documents = models.PositiveIntegerField(null=True, blank=True)
    max_storage_bytes = models.PositiveBigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class UsageRecord(models.Model):
    """One provider call: its tokens, the unit prices charged and the cost.

    Unit prices are copied from the catalog at call time, so a later price change
    never alters what past usage cost.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "users.Organization", on_delete=models.CASCADE, related_name="usage_records"
    )
    # Assistants live in the organization's schema: referenced by id, not by FK.
    assistant_id = models.UUIDField(null=True, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key = models.ForeignKey(
        "integrations.APIKey",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="usage_records",
    )
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.WEB)
    kind = models.CharField(max_length=16, choices=UsageKind.choices)
    provider = models.CharField(max_length=32)
    model_id = models.CharField(max_length=120)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    # True when the provider reported no usage and we counted the tokens ourselves.
    tokens_estimated = models.BooleanField(default=False)
    input_price_per_million = models.DecimalField(max_digits=12, decimal_places=6)
    output_price_per_million = models.DecimalField(max_digits=12, decimal_places=6)
    currency = models.CharField(max_length=3, default="USD")
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organization", "created_at"])]

    def __str__(self) -> str:
        return f"{self.organization_id} {self.kind} {self.provider}/{self.model_id} {self.cost}"

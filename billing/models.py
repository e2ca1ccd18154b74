"""Billing (public schema). For now: the usage ledger that every AI call writes.

Plans, subscriptions, quotas and Stripe arrive with their issues.
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

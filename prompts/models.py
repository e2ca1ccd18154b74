"""Prompt templates and their immutable versions (each organization's schema)."""

import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models

from core.lookups import user_reference


class Visibility(models.TextChoices):
    PRIVATE = "private", "Only its author"
    ORGANIZATION = "organization", "Everyone in the organization"


class PromptTemplate(models.Model):
    """A named template; its text lives in versions. ``published_version`` is the one
    used when a caller does not pin a version (rollback publishes an older one)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=120)
    description = models.CharField(max_length=500, blank=True)
    category = models.CharField(max_length=60, blank=True)
    tags = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    visibility = models.CharField(
        max_length=16, choices=Visibility.choices, default=Visibility.ORGANIZATION
    )
    published_version = models.ForeignKey(
        "PromptVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = user_reference()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["category"])]

    def __str__(self) -> str:
        return self.name


class PromptVersion(models.Model):
    """One immutable version: saved once, never changed (a change is a new version)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    template = models.ForeignKey(PromptTemplate, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    body = models.TextField()
    # [{name, type, required, default, help, choices}] (prompts.rendering.check_variables)
    variables = models.JSONField(default=list, blank=True)
    # Optional: {"model": "provider/model_id", "temperature": 0.2, "max_tokens": 500}
    model_hints = models.JSONField(default=dict, blank=True)
    note = models.CharField(max_length=300, blank=True)
    created_by = user_reference()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["template", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["template", "number"], name="prompt_version_number")
        ]

    def __str__(self) -> str:
        return f"{self.template.name} v{self.number}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("A prompt version is immutable: save a new version instead.")
        super().save(*args, **kwargs)


class UseSource(models.TextChoices):
    CHAT = "chat", "Chat message"
    WORKFLOW = "workflow", "Workflow step"
    ASSISTANT = "assistant", "Assistant instructions"
    API = "api", "API render"


class PromptUse(models.Model):
    """One use of a version, with the tokens and cost of what it produced, copied from
    the ledger row (billing.UsageRecord) of the AI call it fed."""

    id = models.BigAutoField(primary_key=True)
    version = models.ForeignKey(PromptVersion, on_delete=models.CASCADE, related_name="uses")
    source = models.CharField(max_length=16, choices=UseSource.choices)
    source_id = models.CharField(max_length=64, blank=True)
    usage_record_id = models.UUIDField(null=True, blank=True)
    tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=8, default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.source} use of {self.version_id}"

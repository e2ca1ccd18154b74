"""Chat sessions and messages (organization schema)."""

import uuid
from decimal import Decimal

from django.contrib.postgres.fields import ArrayField
from django.db import models

from billing.models import Channel
from core.lookups import user_reference


class ChatSession(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    assistant = models.ForeignKey(
        "assistants.Assistant", on_delete=models.CASCADE, related_name="sessions"
    )
    # Null for anonymous, widget, Slack or API callers.
    created_by = user_reference()
    # The API key (public schema, so an id, not a foreign key) a program created the
    # session with: it owns the session as a person owns theirs (chat.access).
    api_key_id = models.UUIDField(null=True, blank=True, db_index=True)
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.WEB)
    external_user_id = models.CharField(max_length=200, blank=True)
    title = models.CharField(max_length=200, blank=True)
    description = models.CharField(max_length=1000, blank=True)
    tags = ArrayField(models.CharField(max_length=50), default=list, blank=True)
    is_archived = models.BooleanField(default=False)
    is_shared = models.BooleanField(default=False)
    # Narrows retrieval to some of the assistant's collections; empty = all of them.
    collections = models.ManyToManyField("knowledge_base.Collection", blank=True, related_name="+")
    # Totals are updated with F() expressions in the same transaction as the
    # message, so concurrent messages never lose an update.
    message_count = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveBigIntegerField(default=0)
    total_cost = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    last_message_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = [models.F("last_message_at").desc(nulls_last=True), "-created_at"]

    def __str__(self) -> str:
        return self.title or str(self.id)


class Role(models.TextChoices):
    USER = "user", "User"
    ASSISTANT = "assistant", "Assistant"
    SYSTEM = "system", "System"


class MessageStatus(models.TextChoices):
    STREAMING = "streaming", "Streaming"
    COMPLETE = "complete", "Complete"
    ERROR = "error", "Error"
    CANCELLED = "cancelled", "Cancelled"
    # The web process stopped while it streamed (crash): stored by the recovery sweep
    # with the text it had (chat/recovery.py).
    INTERRUPTED = "interrupted", "Interrupted"


class Message(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session = models.ForeignKey(ChatSession, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    status = models.CharField(
        max_length=16, choices=MessageStatus.choices, default=MessageStatus.COMPLETE
    )
    error = models.CharField(max_length=500, blank=True)
    is_edited = models.BooleanField(default=False)
    original_content = models.TextField(blank=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    # For an assistant message: the user message it answers.
    reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies"
    )
    # For a regenerated answer: the answer it replaces.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="regenerations"
    )
    provider = models.CharField(max_length=32, blank=True)
    model = models.CharField(max_length=120, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    # The answer request's prompt, counted when the turn was prepared: what an answer
    # interrupted by a crash is charged for its prompt (chat/recovery.py).
    estimated_prompt_tokens = models.PositiveIntegerField(default=0)
    time_to_first_token_ms = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    # The standalone query used for retrieval (after rewriting follow-ups).
    retrieval_query = models.TextField(blank=True)
    # Sources in citation order: [{"index", "chunk_id", "document_id", "document_title",
    # "page", "section", "score", "cited"}].
    sources = models.JSONField(default=list, blank=True)
    attachments = models.ManyToManyField("files.File", blank=True, related_name="+")
    feedback_rating = models.SmallIntegerField(null=True, blank=True)  # 1 up, -1 down
    feedback_comment = models.CharField(max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Bumped with the text so far while the answer streams: a streaming row whose
    # updated_at stopped moving belongs to a process that died (chat/recovery.py).
    updated_at = models.DateTimeField(auto_now=True)
    # For an answer: attachments (or parts of them) the context window could not hold,
    # said rather than silently cut: [{"file_id", "name", "reason"}] (chat/attachments.py).
    context_omitted = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # The recovery sweep's question; only the few streaming rows are indexed.
            models.Index(
                fields=["updated_at"],
                condition=models.Q(status="streaming"),
                name="message_streaming_heartbeat",
            )
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"

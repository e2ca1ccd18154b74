"""Chat sessions and messages (organization schema)."""

import uuid
from decimal import Decimal

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from pgvector.django import VectorField

from billing.models import Channel
from core.lookups import user_reference


class ConversationSource(models.TextChoices):
    """Where a conversation happened: here, or in another assistant it was imported from."""

    PLATFORM = "platform", "This platform"
    CHATGPT = "chatgpt", "ChatGPT"
    CLAUDE = "claude", "Claude"
    GEMINI = "gemini", "Gemini"
    JSON = "json", "JSON"


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
    # Imported conversations (chat/conversations/): where from, the source's id (a
    # re-import finds the session by it) and times, and the model that answered there.
    source = models.CharField(
        max_length=16, choices=ConversationSource.choices, default=ConversationSource.PLATFORM
    )
    source_id = models.CharField(max_length=200, blank=True)
    source_created_at = models.DateTimeField(null=True, blank=True)
    source_updated_at = models.DateTimeField(null=True, blank=True)
    source_model = models.CharField(max_length=120, blank=True)
    # Ended by its owner (POST .../end) or by the idle sweep; analysed then.
    ended_at = models.DateTimeField(null=True, blank=True)
    # A conversation (often an imported one) continued as this session with another
    # assistant: its turns were copied here as the history (chat/conversations/continuing.py).
    continued_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="continuations"
    )

    class Meta:
        ordering = [models.F("last_message_at").desc(nulls_last=True), "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["created_by", "source", "source_id"],
                condition=~models.Q(source_id=""),
                name="chat_session_unique_source_conversation",
            )
        ]

    def __str__(self) -> str:
        return self.title or str(self.id)


class Role(models.TextChoices):
    USER = "user", "User"
    ASSISTANT = "assistant", "Assistant"
    SYSTEM = "system", "System"
    # Tool and code output of an imported conversation (never sent to a model as such).
    TOOL = "tool", "Tool"


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
    # For an answer: the assistant that gave it. A conversation may switch assistant (and
    # so model) between questions; the session's ``assistant`` is the one answering now.
    assistant = models.ForeignKey(
        "assistants.Assistant", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
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
    # "page", "section", "score", "cited"}], plus "reranked" and "rerank_score" when the
    # assistant has a reranker (ADR 0100), "parent_id" and "merged_chunk_ids" when the
    # model read the chunk's parent section (ADR 0103).
    sources = models.JSONField(default=list, blank=True)
    attachments = models.ManyToManyField("files.File", blank=True, related_name="+")
    feedback_rating = models.SmallIntegerField(null=True, blank=True)  # 1 up, -1 down
    feedback_comment = models.CharField(max_length=2000, blank=True)
    # When the rating was last given (the feedback review filters by it).
    feedback_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Bumped with the text so far while the answer streams: a streaming row whose
    # updated_at stopped moving belongs to a process that died (chat/recovery.py).
    updated_at = models.DateTimeField(auto_now=True)
    # For an answer: attachments (or parts of them) the context window could not hold,
    # said rather than silently cut: [{"file_id", "name", "reason"}] (chat/attachments.py).
    context_omitted = models.JSONField(default=list, blank=True)
    # Imported messages: the source's message id (a re-import skips what it finds),
    # its time as the source wrote it (null when the source had none: created_at is
    # then inferred from the neighbours), its content type (text, code,
    # execution_output...) and the non-text parts noted (never fetched).
    source_id = models.CharField(max_length=200, blank=True)
    source_created_at = models.DateTimeField(null=True, blank=True)
    source_content_type = models.CharField(max_length=40, blank=True)
    source_attachments = models.JSONField(default=list, blank=True)
    # Not indexed for search yet (chat/conversations/indexing.py): the indexer finds
    # its work through a partial index on this, never by scanning every message.
    search_pending = models.BooleanField(default=True, db_default=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "source_id"],
                condition=~models.Q(source_id=""),
                name="chat_message_unique_source_message",
            )
        ]
        indexes = [
            # The recovery sweep's question; only the few streaming rows are indexed.
            models.Index(
                fields=["updated_at"],
                condition=models.Q(status="streaming"),
                name="message_streaming_heartbeat",
            ),
            models.Index(
                fields=["created_at", "id"],
                condition=models.Q(search_pending=True),
                name="message_search_pending",
            ),
            # The feedback review (chat.selectors.feedback_list): thumbs-down only.
            models.Index(
                fields=["feedback_at", "id"],
                condition=models.Q(feedback_rating=-1),
                name="message_thumbs_down",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"


# -- conversation intelligence (chat/conversations/) ------------------------------


class ImportStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class ConversationImport(models.Model):
    """One uploaded export and the job that imports it (chat/conversations/importing.py)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_by = user_reference()
    # Imported by a program: its sessions belong to the key (chat.access).
    api_key_id = models.UUIDField(null=True, blank=True)
    assistant = models.ForeignKey(
        "assistants.Assistant", on_delete=models.CASCADE, related_name="+"
    )
    source = models.CharField(max_length=16, choices=ConversationSource.choices, blank=True)
    file = models.ForeignKey(
        "files.File", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    file_name = models.CharField(max_length=255)
    status = models.CharField(
        max_length=16, choices=ImportStatus.choices, default=ImportStatus.PENDING
    )
    error = models.CharField(max_length=1000, blank=True)
    conversations_total = models.PositiveIntegerField(default=0)
    conversations_done = models.PositiveIntegerField(default=0)
    conversations_created = models.PositiveIntegerField(default=0)
    conversations_updated = models.PositiveIntegerField(default=0)
    messages_imported = models.PositiveIntegerField(default=0)
    messages_existing = models.PositiveIntegerField(default=0)
    # [{"conversation", "field", "message"}]: what was not imported, and why.
    problems = models.JSONField(default=list, blank=True)
    # [{"session_id", "source_id", "title", "messages", "created"}]: per conversation.
    results = models.JSONField(default=list, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "id"]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.status})"


class MessageSearchEntry(models.Model):
    """A message's search index: its vector (the organization's embedding model) and its
    full-text vector, written in batches by a task (chat/conversations/indexing.py).
    Session, role and time are copied so that filters need no join."""

    message = models.OneToOneField(
        Message, primary_key=True, on_delete=models.CASCADE, related_name="search_entry"
    )
    session = models.ForeignKey(ChatSession, on_delete=models.CASCADE, related_name="+")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField()
    embedding = VectorField(null=True)
    embedding_dimensions = models.PositiveIntegerField(null=True)
    embedding_model = models.CharField(max_length=160, blank=True)
    search_vector = SearchVectorField(null=True)
    indexed_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            GinIndex(fields=["search_vector"], name="message_search_vector_gin"),
            models.Index(fields=["session", "created_at"], name="message_search_session_time"),
        ]

    def __str__(self) -> str:
        return f"search entry of {self.message_id}"


class ConversationAnalysis(models.Model):
    """One version of a conversation's analysis; the newest version is the current one."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session = models.ForeignKey(ChatSession, on_delete=models.CASCADE, related_name="analyses")
    version = models.PositiveIntegerField()
    summary = models.TextField(blank=True)
    topics = models.JSONField(default=list, blank=True)
    sentiment_label = models.CharField(max_length=16, blank=True)
    sentiment_score = models.FloatField(default=0)
    # [{"text", "done"}]
    action_items = models.JSONField(default=list, blank=True)
    key_points = models.JSONField(default=list, blank=True)
    # "model" (structured output of an AI model) or "local" (YAKE, VADER, extractive).
    method = models.CharField(max_length=16)
    model = models.CharField(max_length=160, blank=True)
    total_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    messages_analyzed = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "version"], name="conversation_analysis_version"
            )
        ]

    def __str__(self) -> str:
        return f"analysis v{self.version} of {self.session_id}"


class ConversationSettings(models.Model):
    """The organization's conversation settings (one row per schema)."""

    # Null: CONVERSATIONS_EMBEDDING_MODEL (the local embedder by default).
    embedding_model = models.ForeignKey(
        "catalog.AIModel", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # A conversation with no message for this long is ended by the sweep (0: never).
    idle_minutes = models.PositiveIntegerField(default=60)
    # Null: the conversation's assistant's model, or local methods offline.
    analysis_model = models.ForeignKey(
        "catalog.AIModel", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return "conversation settings"


class MessageBookmark(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="bookmarks")
    user = user_reference()
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["message", "user"], name="message_bookmark_once")
        ]

    def __str__(self) -> str:
        return f"bookmark of {self.message_id}"


class MessageReaction(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reactions")
    user = user_reference()
    emoji = models.CharField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["message", "user", "emoji"], name="message_reaction_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.emoji} on {self.message_id}"

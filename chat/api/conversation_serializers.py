"""Input and output of the conversation endpoints (imports, search, ask, analysis,
bookmarks, reactions, settings)."""

from rest_framework import serializers

from chat.conversations.formats import SOURCES
from chat.conversations.search import MAX_RESULTS, MODES
from chat.models import (
    ConversationAnalysis,
    ConversationImport,
    ConversationSettings,
    ConversationSource,
    MessageBookmark,
    MessageReaction,
    Role,
)
from core.api.query import QuerySerializer


class ImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The export's .zip, or its JSON (or Gemini's HTML).")
    source = serializers.ChoiceField(
        choices=SOURCES,
        required=False,
        allow_null=True,
        default=None,
        help_text="chatgpt, claude, gemini or json; detected from the file when absent.",
    )
    assistant = serializers.UUIDField(
        required=False,
        allow_null=True,
        default=None,
        help_text="The assistant the conversations continue with (default: the first active).",
    )


class ImportProblemSerializer(serializers.Serializer):
    conversation = serializers.CharField()
    field = serializers.CharField()
    message = serializers.CharField()


class ImportResultSerializer(serializers.Serializer):
    session_id = serializers.UUIDField()
    source_id = serializers.CharField()
    title = serializers.CharField()
    added = serializers.IntegerField()
    existing = serializers.IntegerField()
    created = serializers.BooleanField()


class ImportOutputSerializer(serializers.ModelSerializer):
    problems = ImportProblemSerializer(many=True, read_only=True)
    results = ImportResultSerializer(many=True, read_only=True)
    progress = serializers.SerializerMethodField()

    class Meta:
        model = ConversationImport
        fields = [
            "id",
            "file_name",
            "source",
            "assistant",
            "status",
            "error",
            "progress",
            "conversations_total",
            "conversations_done",
            "conversations_created",
            "conversations_updated",
            "messages_imported",
            "messages_existing",
            "problems",
            "results",
            "created_by",
            "started_at",
            "finished_at",
            "created_at",
        ]

    def get_progress(self, job: ConversationImport) -> float:
        if job.status == "completed":
            return 1.0
        return (
            round(job.conversations_done / job.conversations_total, 4)
            if job.conversations_total
            else 0.0
        )


class HistorySearchInputSerializer(serializers.Serializer):
    query = serializers.CharField(max_length=1000)
    mode = serializers.ChoiceField(choices=MODES, default="hybrid")
    source = serializers.ChoiceField(
        choices=ConversationSource.choices, required=False, allow_null=True, default=None
    )
    assistant = serializers.UUIDField(required=False, allow_null=True, default=None)
    session = serializers.UUIDField(required=False, allow_null=True, default=None)
    role = serializers.ChoiceField(
        choices=Role.values, required=False, allow_null=True, default=None
    )
    date_from = serializers.DateTimeField(required=False, allow_null=True, default=None)
    date_to = serializers.DateTimeField(required=False, allow_null=True, default=None)
    tag = serializers.CharField(max_length=50, required=False, allow_null=True, default=None)
    bookmarked = serializers.BooleanField(default=False)
    page = serializers.IntegerField(min_value=1, default=1)
    page_size = serializers.IntegerField(min_value=1, max_value=50, default=10)

    def validate(self, data):
        if data["page"] * data["page_size"] > MAX_RESULTS:
            raise serializers.ValidationError(
                {"page": [f"Results go up to {MAX_RESULTS}: page x page_size must not exceed it."]}
            )
        if data["date_from"] and data["date_to"] and data["date_from"] > data["date_to"]:
            raise serializers.ValidationError({"date_to": ["date_to is before date_from."]})
        return data


class HistoryTurnSerializer(serializers.Serializer):
    message_id = serializers.UUIDField()
    role = serializers.CharField()
    content = serializers.CharField()
    created_at = serializers.DateTimeField()


class HistoryHitSerializer(serializers.Serializer):
    message_id = serializers.UUIDField()
    session_id = serializers.UUIDField()
    session_title = serializers.CharField()
    source = serializers.CharField()
    role = serializers.CharField()
    content = serializers.CharField()
    created_at = serializers.DateTimeField()
    score = serializers.FloatField()
    similarity = serializers.FloatField(allow_null=True)
    vector_rank = serializers.IntegerField(allow_null=True)
    keyword_rank = serializers.IntegerField(allow_null=True)
    snippet = serializers.CharField()
    highlights = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()),
        help_text="[start, end) character ranges of the matched words in the snippet.",
    )
    before = HistoryTurnSerializer(allow_null=True)
    after = HistoryTurnSerializer(allow_null=True)
    link = serializers.SerializerMethodField()

    def get_link(self, hit) -> str:
        return f"/chat/{hit.session_id}?message={hit.message_id}"


class HistorySearchOutputSerializer(serializers.Serializer):
    results = HistoryHitSerializer(many=True)
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    has_more = serializers.BooleanField()


class HistoryAskInputSerializer(serializers.Serializer):
    question = serializers.CharField(max_length=2000)
    assistant = serializers.UUIDField(required=False, allow_null=True, default=None)
    source = serializers.ChoiceField(
        choices=ConversationSource.choices, required=False, allow_null=True, default=None
    )
    date_from = serializers.DateTimeField(required=False, allow_null=True, default=None)
    date_to = serializers.DateTimeField(required=False, allow_null=True, default=None)
    stream = serializers.BooleanField(
        default=True, help_text="Server-Sent Events when true, JSON when false."
    )


class CitedDocumentSerializer(serializers.Serializer):
    document_id = serializers.UUIDField()
    title = serializers.CharField()
    collection_id = serializers.UUIDField()
    link = serializers.CharField(help_text="The document in the dashboard's Knowledge page.")


class HistoryExcerptSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=["message", "summary"])
    conversation_id = serializers.UUIDField()
    conversation_title = serializers.CharField()
    source = serializers.CharField()
    message_id = serializers.UUIDField(allow_null=True)
    role = serializers.CharField()
    date = serializers.DateTimeField(allow_null=True)
    similarity = serializers.FloatField(allow_null=True)
    score = serializers.FloatField(allow_null=True)
    text = serializers.CharField()
    documents = CitedDocumentSerializer(
        many=True, help_text="Knowledge documents the quoted answer cited (links to them)."
    )
    cited = serializers.BooleanField()


class HistoryAskUsageSerializer(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    cost = serializers.CharField()
    latency_ms = serializers.IntegerField()


class HistoryAskOutputSerializer(serializers.Serializer):
    answer = serializers.CharField()
    excerpts = HistoryExcerptSerializer(many=True)
    model = serializers.CharField()
    usage = HistoryAskUsageSerializer()


class ActionItemSerializer(serializers.Serializer):
    text = serializers.CharField()
    done = serializers.BooleanField()


class SentimentSerializer(serializers.Serializer):
    label = serializers.CharField(source="sentiment_label")
    score = serializers.FloatField(source="sentiment_score", help_text="From -1 to 1.")


class AnalysisOutputSerializer(serializers.ModelSerializer):
    sentiment = SentimentSerializer(source="*", read_only=True)
    action_items = ActionItemSerializer(many=True)
    topics = serializers.ListField(child=serializers.CharField())
    key_points = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = ConversationAnalysis
        fields = [
            "id",
            "session",
            "version",
            "summary",
            "topics",
            "sentiment",
            "action_items",
            "key_points",
            "method",
            "model",
            "total_tokens",
            "cost",
            "messages_analyzed",
            "created_at",
        ]


class ActionItemsUpdateSerializer(serializers.Serializer):
    done = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=99),
        max_length=100,
        help_text="Positions of the action items that are done (the others are not).",
    )


class BookmarkInputSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class BookmarkOutputSerializer(serializers.ModelSerializer):
    session = serializers.UUIDField(source="message.session_id", read_only=True)
    session_title = serializers.CharField(source="message.session.title", read_only=True)
    content = serializers.CharField(source="message.content", read_only=True)
    role = serializers.CharField(source="message.role", read_only=True)

    class Meta:
        model = MessageBookmark
        fields = [
            "id",
            "message",
            "session",
            "session_title",
            "role",
            "content",
            "note",
            "created_at",
        ]


class ReactionInputSerializer(serializers.Serializer):
    emoji = serializers.CharField(max_length=32)

    def validate_emoji(self, value: str) -> str:
        value = value.strip()
        if not value or any(c.isspace() for c in value) or len(value) > 16:
            raise serializers.ValidationError("One emoji (or a short name without spaces).")
        return value


class ReactionOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = MessageReaction
        fields = ["id", "message", "emoji", "user", "created_at"]


class ConversationSettingsSerializer(serializers.ModelSerializer):
    embedding_model = serializers.SerializerMethodField()
    analysis_model = serializers.SerializerMethodField()
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = ConversationSettings
        fields = ["embedding_model", "analysis_model", "idle_minutes", "updated_at"]

    def get_embedding_model(self, row) -> str | None:
        return row.embedding_model.key if row.embedding_model_id else None

    def get_analysis_model(self, row) -> str | None:
        return row.analysis_model.key if row.analysis_model_id else None


class ConversationSettingsUpdateSerializer(serializers.Serializer):
    embedding_model = serializers.CharField(
        max_length=200,
        required=False,
        allow_null=True,
        help_text='"provider/model_id" of an embedding model; null: the platform default.',
    )
    analysis_model = serializers.CharField(
        max_length=200,
        required=False,
        allow_null=True,
        help_text="\"provider/model_id\"; null: each conversation's assistant's model.",
    )
    idle_minutes = serializers.IntegerField(min_value=0, max_value=60 * 24 * 30, required=False)


class AnalysisEstimateSerializer(serializers.Serializer):
    conversations = serializers.IntegerField()
    prompt_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=14, decimal_places=6)
    models = serializers.ListField(child=serializers.CharField())


class InsightsInputSerializer(QuerySerializer):
    # Query parameters: absent is "no filter"; an empty value is refused, not read as absent.
    date_from = serializers.DateTimeField(required=False, default=None)
    date_to = serializers.DateTimeField(required=False, default=None)
    bucket = serializers.ChoiceField(choices=["day", "week", "month"], default="month")
    source = serializers.ChoiceField(
        choices=ConversationSource.choices, required=False, default=None
    )

    def validate(self, attrs):
        if attrs["date_from"] and attrs["date_to"] and attrs["date_from"] >= attrs["date_to"]:
            raise serializers.ValidationError({"date_to": ["Must be after date_from."]})
        return attrs


class InsightsSentimentSerializer(serializers.Serializer):
    average = serializers.FloatField(allow_null=True, help_text="From -1 to 1; null: none.")
    positive = serializers.IntegerField()
    neutral = serializers.IntegerField()
    negative = serializers.IntegerField()


class InsightsTopicSerializer(serializers.Serializer):
    topic = serializers.CharField()
    conversations = serializers.IntegerField()


class InsightsPeriodSerializer(serializers.Serializer):
    period = serializers.DateTimeField(help_text="The start of the day, week or month.")
    conversations = serializers.IntegerField()
    average_sentiment = serializers.FloatField(allow_null=True)
    positive = serializers.IntegerField()
    neutral = serializers.IntegerField()
    negative = serializers.IntegerField()


class InsightsOutputSerializer(serializers.Serializer):
    conversations = serializers.IntegerField(help_text="Analysed conversations in the range.")
    sentiment = InsightsSentimentSerializer()
    topics = InsightsTopicSerializer(many=True)
    bucket = serializers.CharField()
    timeline = InsightsPeriodSerializer(many=True)


class ContinueInputSerializer(serializers.Serializer):
    assistant = serializers.UUIDField(
        required=False,
        allow_null=True,
        default=None,
        help_text="The assistant to continue with (default: the first active one).",
    )

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from assistants.api.serializers import AssistantTestOutputSerializer
from chat.models import ChatSession, ConversationSource, Message
from core.api.query import QueryBooleanField, QuerySerializer


class ChatInputSerializer(serializers.Serializer):
    assistant = serializers.UUIDField(
        help_text="The assistant that answers. With `session`, another assistant than the "
        "session's switches the conversation to it (and its model) from this question on."
    )
    session = serializers.UUIDField(
        required=False, allow_null=True, help_text="Continue this session."
    )
    message = serializers.CharField(
        max_length=100_000, help_text="The question (limit: CHAT_MAX_MESSAGE_CHARS)."
    )
    top_k = serializers.IntegerField(min_value=1, max_value=20, required=False)
    attachments = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        max_length=50,
        help_text="Ids of files uploaded through /api/v1/files to attach to the question.",
    )
    prompt_version = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="The prompt template version the question was written from (the "
        "composer's template picker): the answer's tokens and cost count as its use.",
    )
    stream = serializers.BooleanField(
        default=True, help_text="Server-Sent Events when true, JSON when false."
    )


class SourceSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    chunk_id = serializers.IntegerField()
    document_id = serializers.CharField()
    document_title = serializers.CharField()
    page = serializers.IntegerField(allow_null=True)
    section = serializers.CharField(allow_blank=True)
    score = serializers.FloatField()
    cited = serializers.BooleanField()
    file_id = serializers.CharField(
        required=False, allow_null=True, help_text="Set when the source is an attached file."
    )
    excerpt = serializers.CharField(
        required=False, help_text="An attached file's passage (its first 2,000 characters)."
    )
    reranked = serializers.BooleanField(
        required=False,
        help_text="Set when the assistant has a reranker: whether it ordered the sources "
        "(false: it failed and the un-reranked order was kept).",
    )
    rerank_score = serializers.FloatField(
        required=False, allow_null=True, help_text="The reranker's relevance score."
    )
    parent_id = serializers.IntegerField(
        required=False,
        help_text="Set when the model read the chunk's parent section (parent-child "
        "collections): the section's id; the chunk (GET /chunks/{chunk_id}) shows it.",
    )
    merged_chunk_ids = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        help_text="Other retrieved chunks of the same section: the model read it once.",
    )


class AttachmentSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    kind = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()


class OmittedSerializer(serializers.Serializer):
    file_id = serializers.CharField()
    name = serializers.CharField()
    reason = serializers.CharField()


class MessageOutputSerializer(serializers.ModelSerializer):
    sources = SourceSerializer(many=True, read_only=True)
    feedback = serializers.SerializerMethodField()
    attachments = AttachmentSerializer(many=True, read_only=True)
    context_omitted = OmittedSerializer(many=True, read_only=True)
    assistant_name = serializers.CharField(
        source="assistant.name",
        read_only=True,
        allow_null=True,
        default=None,
        help_text="The assistant that gave this answer (a conversation can switch "
        "assistant between questions); null for questions and imported answers.",
    )

    class Meta:
        model = Message
        fields = [
            "id",
            "session",
            "role",
            "content",
            "status",
            "error",
            "is_edited",
            "original_content",
            "edited_at",
            "reply_to",
            "parent",
            "assistant",
            "assistant_name",
            "provider",
            "model",
            "prompt_tokens",
            "completion_tokens",
            "total_tokens",
            "cost",
            "time_to_first_token_ms",
            "latency_ms",
            "retrieval_query",
            "sources",
            "feedback",
            "attachments",
            "context_omitted",
            "created_at",
            "source_id",
            "source_created_at",
            "source_content_type",
            "source_attachments",
        ]

    def get_feedback(self, message: Message) -> dict | None:
        if message.feedback_rating is None and not message.feedback_comment:
            return None
        return {"rating": message.feedback_rating, "comment": message.feedback_comment}


class ChatOutputSerializer(serializers.Serializer):
    session_id = serializers.UUIDField()
    message = MessageOutputSerializer()


class MessageQuerySerializer(QuerySerializer):
    order = serializers.ChoiceField(
        choices=[("oldest", "oldest"), ("newest", "newest")], required=False, default="oldest"
    )


class SessionOwnerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    name = serializers.CharField()


class SessionOutputSerializer(serializers.ModelSerializer):
    assistant_name = serializers.CharField(source="assistant.name", read_only=True)
    owner = serializers.SerializerMethodField(
        help_text="The person who started the conversation (null: a program or a deleted user)."
    )

    @extend_schema_field(SessionOwnerSerializer(allow_null=True))
    def get_owner(self, session):
        user = session.created_by
        if user is None:
            return None
        return {"id": user.pk, "email": user.email, "name": getattr(user, "name", "") or ""}

    class Meta:
        model = ChatSession
        fields = [
            "id",
            "assistant",
            "assistant_name",
            "title",
            "description",
            "tags",
            "channel",
            "is_archived",
            "is_shared",
            "message_count",
            "total_tokens",
            "total_cost",
            "last_message_at",
            "created_by",
            "owner",
            "created_at",
            "updated_at",
            "source",
            "source_id",
            "source_created_at",
            "source_model",
            "ended_at",
            "continued_from",
        ]


class SessionUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=50), max_length=20, required=False
    )
    is_archived = serializers.BooleanField(required=False)
    is_shared = serializers.BooleanField(required=False)


class FeedbackSerializer(serializers.Serializer):
    rating = serializers.ChoiceField(
        choices=[1, -1], allow_null=True, help_text="1 thumbs up, -1 thumbs down."
    )
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class ReplyOptionsSerializer(serializers.Serializer):
    stream = serializers.BooleanField(default=True)


class EditSerializer(ReplyOptionsSerializer):
    content = serializers.CharField(max_length=100_000)


class SessionQuerySerializer(QuerySerializer):
    assistant = serializers.UUIDField(required=False, allow_null=True, default=None)
    archived = QueryBooleanField()
    search = serializers.CharField(required=False, allow_blank=True, default="")
    source = serializers.ChoiceField(
        choices=ConversationSource.choices, required=False, allow_null=True, default=None
    )
    tag = serializers.CharField(max_length=50, required=False, allow_null=True, default=None)
    owner = serializers.ChoiceField(
        choices=[("me", "me"), ("everyone", "everyone")], required=False, default="everyone"
    )


class AssistantTestReplySerializer(AssistantTestOutputSerializer):
    retrieval_query = serializers.CharField(help_text="What retrieval searched for.")
    sources = SourceSerializer(many=True)

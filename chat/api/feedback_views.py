"""The admins' review of thumbs-down answers: question, answer, sources, comment."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers

from chat import selectors
from chat.api.serializers import SourceSerializer
from chat.models import Message
from core.access import Role, Scope
from core.api.query import QuerySerializer
from core.api.views import OrganizationGenericAPIView


class FeedbackQuerySerializer(QuerySerializer):
    assistant = serializers.UUIDField(required=False, allow_null=True, default=None)
    start = serializers.DateField(required=False, allow_null=True, default=None)
    end = serializers.DateField(required=False, allow_null=True, default=None)

    def validate(self, attrs):
        if attrs["start"] and attrs["end"] and attrs["start"] > attrs["end"]:
            raise serializers.ValidationError({"start": ["The start is after the end."]})
        return attrs


class FeedbackOutputSerializer(serializers.ModelSerializer):
    session_id = serializers.UUIDField(source="session.id")
    session_title = serializers.CharField(source="session.title")
    assistant_id = serializers.UUIDField(source="session.assistant.id")
    assistant_name = serializers.CharField(source="session.assistant.name")
    asked_by = serializers.SerializerMethodField()
    question = serializers.SerializerMethodField()
    answer = serializers.CharField(source="content")
    rating = serializers.IntegerField(source="feedback_rating")
    comment = serializers.CharField(source="feedback_comment")
    sources = SourceSerializer(many=True)

    class Meta:
        model = Message
        fields = [
            "id",
            "session_id",
            "session_title",
            "assistant_id",
            "assistant_name",
            "asked_by",
            "question",
            "answer",
            "rating",
            "comment",
            "sources",
            "model",
            "feedback_at",
            "created_at",
        ]

    def get_asked_by(self, message: Message) -> str:
        """The asker's e-mail; empty for a visitor (widget), a bot channel or a program."""
        user = message.session.created_by
        return user.email if user is not None else ""

    def get_question(self, message: Message) -> str:
        return message.reply_to.content if message.reply_to_id else ""


class FeedbackListView(mixins.ListModelMixin, OrganizationGenericAPIView):
    # Answers from everyone's conversations: admins only.
    required_roles = {"GET": Role.ADMIN}
    api_scopes = {"GET": Scope.ADMIN}
    serializer_class = FeedbackOutputSerializer

    def get_queryset(self):
        query = FeedbackQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        return selectors.feedback_list(
            assistant_id=params["assistant"], start=params["start"], end=params["end"]
        )

    @extend_schema(
        operation_id="feedback_list",
        tags=["chat"],
        parameters=[
            OpenApiParameter("assistant", OpenApiTypes.UUID),
            OpenApiParameter("start", OpenApiTypes.DATE, description="First day (UTC) rated."),
            OpenApiParameter("end", OpenApiTypes.DATE, description="Last day (UTC), included."),
        ],
    )
    def get(self, request):
        """Thumbs-down answers, newest rating first, with their question and sources."""
        return self.list(request)

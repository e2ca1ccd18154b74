from rest_framework import serializers

from integrations.models import WidgetConfiguration, WidgetPosition

_FIELDS = [
    "name",
    "title",
    "welcome_message",
    "primary_color",
    "text_color",
    "position",
    "allowed_domains",
    "file_upload_enabled",
    "feedback_enabled",
    "show_sources",
    "suggested_questions",
    "messages_per_minute",
    "messages_per_minute_per_address",
    "max_message_chars",
    "max_conversation_messages",
    "is_active",
]


class WidgetOutputSerializer(serializers.ModelSerializer):
    assistant = serializers.UUIDField(source="assistant_id")
    allowed_domains = serializers.ListField(child=serializers.CharField())
    suggested_questions = serializers.ListField(child=serializers.CharField())
    conversations = serializers.IntegerField(read_only=True, default=0)
    messages = serializers.IntegerField(read_only=True, default=0)
    tokens = serializers.IntegerField(read_only=True, default=0)
    cost = serializers.DecimalField(max_digits=14, decimal_places=6, read_only=True, default=0)
    snippet = serializers.CharField(read_only=True)

    class Meta:
        model = WidgetConfiguration
        fields = [
            "id",
            "public_id",
            "assistant",
            *_FIELDS,
            "conversations",
            "messages",
            "tokens",
            "cost",
            "snippet",
            "created_at",
            "updated_at",
        ]


class WidgetInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    assistant = serializers.UUIDField(source="assistant_id")
    title = serializers.CharField(max_length=100, required=False)
    welcome_message = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    primary_color = serializers.CharField(max_length=7, required=False)
    text_color = serializers.CharField(max_length=7, required=False)
    position = serializers.ChoiceField(choices=WidgetPosition.choices, required=False)
    allowed_domains = serializers.ListField(
        child=serializers.CharField(max_length=260), max_length=50, required=False
    )
    file_upload_enabled = serializers.BooleanField(required=False)
    feedback_enabled = serializers.BooleanField(required=False)
    show_sources = serializers.BooleanField(required=False)
    suggested_questions = serializers.ListField(
        child=serializers.CharField(max_length=200), max_length=6, required=False
    )
    messages_per_minute = serializers.IntegerField(min_value=1, max_value=10_000, required=False)
    messages_per_minute_per_address = serializers.IntegerField(
        min_value=1, max_value=1_000, required=False
    )
    max_message_chars = serializers.IntegerField(min_value=10, max_value=100_000, required=False)
    max_conversation_messages = serializers.IntegerField(
        min_value=2, max_value=1_000, required=False
    )
    is_active = serializers.BooleanField(required=False)


class WidgetSessionSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    title = serializers.CharField()
    message_count = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    total_cost = serializers.DecimalField(max_digits=14, decimal_places=6)
    last_message_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

from rest_framework import serializers

from integrations.models import GmailConnection


class GmailConnectInputSerializer(serializers.Serializer):
    compose = serializers.BooleanField(
        default=True, help_text="Also ask for gmail.compose, which drafting replies needs."
    )


class GmailConnectOutputSerializer(serializers.Serializer):
    url = serializers.URLField(help_text="Google's consent page; send the member there.")


class GmailConnectionOutputSerializer(serializers.ModelSerializer):
    can_compose = serializers.BooleanField(read_only=True)
    sync_progress = serializers.SerializerMethodField()

    class Meta:
        model = GmailConnection
        fields = [
            "id",
            "email",
            "status",
            "scopes",
            "can_compose",
            "label_id",
            "label_name",
            "collection_id",
            "sync_status",
            "sync_threads_done",
            "sync_threads_total",
            "sync_progress",
            "last_sync_at",
            "last_sync_result",
            "last_error",
            "created_at",
        ]
        read_only_fields = fields

    def get_sync_progress(self, connection) -> float | None:
        """0..1 while a run is going, None when idle."""
        if connection.sync_status != "running" or not connection.sync_threads_total:
            return None
        return round(connection.sync_threads_done / connection.sync_threads_total, 3)


class GmailConfigureInputSerializer(serializers.Serializer):
    label_id = serializers.CharField(max_length=200)
    collection = serializers.UUIDField()


class GmailLabelSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    type = serializers.CharField(help_text="system or user")


class GmailLabelsOutputSerializer(serializers.Serializer):
    """Gmail's own list, whole (a mailbox has tens of labels; Gmail does not page it)."""

    labels = GmailLabelSerializer(many=True)


class GmailDraftInputSerializer(serializers.Serializer):
    thread_id = serializers.RegexField(r"^[A-Za-z0-9_-]{1,64}$")
    assistant = serializers.UUIDField()
    instructions = serializers.CharField(max_length=1000, required=False, allow_blank=True)


class GmailDraftOutputSerializer(serializers.Serializer):
    draft_id = serializers.CharField()
    thread_id = serializers.CharField()
    text = serializers.CharField()
    session_id = serializers.UUIDField()
    message_id = serializers.UUIDField()

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from integrations.models import Integration, IntegrationEvent
from users.api.serializers import UserOutputSerializer


class StrictUUIDField(serializers.UUIDField):
    """A UUID given as a JSON string (DRF's field also takes integers and booleans)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class ChannelMappingSerializer(serializers.Serializer):
    channel_id = serializers.CharField(max_length=100)
    assistant = StrictUUIDField()


class IntegrationOutputSerializer(serializers.ModelSerializer):
    installed_by = UserOutputSerializer(allow_null=True)
    default_assistant = serializers.SerializerMethodField()
    channels = serializers.SerializerMethodField()
    details = serializers.SerializerMethodField()

    class Meta:
        model = Integration
        fields = [
            "id",
            "provider",
            "status",
            "name",
            "external_id",
            "details",
            "default_assistant",
            "channels",
            "installed_by",
            "created_at",
            "last_event_at",
            "last_error",
            "last_error_at",
        ]

    def get_default_assistant(self, obj) -> str | None:
        return (obj.config or {}).get("default_assistant_id")

    @extend_schema_field(ChannelMappingSerializer(many=True))
    def get_channels(self, obj):
        mapping = (obj.config or {}).get("channels") or {}
        return [{"channel_id": k, "assistant": v} for k, v in sorted(mapping.items())]

    def get_details(self, obj) -> dict:
        # Identifiers only: no token, no secret.
        keep = ("team_id", "enterprise_id", "bot_user_id", "tenant_id", "app_id", "scopes")
        return {k: v for k, v in (obj.details or {}).items() if k in keep}


class IntegrationUpdateSerializer(serializers.Serializer):
    default_assistant = StrictUUIDField(allow_null=True, required=False)
    channels = ChannelMappingSerializer(many=True, required=False, max_length=500)


class IntegrationEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = IntegrationEvent
        fields = ["id", "kind", "level", "summary", "status", "created_at"]


class SlackInstallSerializer(serializers.Serializer):
    url = serializers.URLField()


class TeamsConnectSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    app_id = StrictUUIDField(help_text="The Azure bot's Microsoft App ID.")
    app_password = serializers.CharField(max_length=500, help_text="Its client secret.")
    tenant_id = StrictUUIDField(help_text="Your Microsoft Entra tenant ID.")

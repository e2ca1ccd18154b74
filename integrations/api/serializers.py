from rest_framework import serializers

from integrations.models import APIKey, Scope
from users.api.serializers import UserOutputSerializer


class APIKeyOutputSerializer(serializers.ModelSerializer):
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=Scope.choices))
    assistants = serializers.ListField(child=serializers.UUIDField(), source="assistant_ids")
    is_active = serializers.BooleanField(read_only=True)
    created_by = UserOutputSerializer(allow_null=True)

    class Meta:
        model = APIKey
        fields = [
            "id",
            "name",
            "prefix",
            "scopes",
            "assistants",
            "expires_at",
            "revoked_at",
            "is_active",
            "last_used_at",
            "last_used_ip",
            "created_at",
            "created_by",
        ]


class APIKeyCreatedSerializer(APIKeyOutputSerializer):
    key = serializers.CharField(
        help_text="The full key. Shown only in this response: store it now."
    )

    class Meta(APIKeyOutputSerializer.Meta):
        fields = [*APIKeyOutputSerializer.Meta.fields, "key"]


class APIKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=Scope.choices), min_length=1, max_length=20
    )
    assistants = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        default=list,
        max_length=100,
        help_text="Restrict the key to these assistants (empty: all).",
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)

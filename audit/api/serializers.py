from rest_framework import serializers

from audit.models import AuditAction, AuditEvent
from core.api.query import QuerySerializer


class AuditActorSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()


class AuditAPIKeySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    label = serializers.CharField()


class AuditEventOutputSerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()
    api_key = serializers.SerializerMethodField()

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "action",
            "actor",
            "api_key",
            "target_type",
            "target_id",
            "target_label",
            "changes",
            "ip_address",
            "created_at",
        ]

    def get_actor(self, event) -> AuditActorSerializer(allow_null=True):
        if event.actor_id is None:
            return None
        return {"id": event.actor_id, "email": event.actor_email}

    def get_api_key(self, event) -> AuditAPIKeySerializer(allow_null=True):
        if event.api_key_id is None:
            return None
        return {"id": event.api_key_id, "label": event.api_key_label}


class AuditQuerySerializer(QuerySerializer):
    action = serializers.ChoiceField(choices=AuditAction.choices, required=False)
    start = serializers.DateField(required=False)
    end = serializers.DateField(required=False)

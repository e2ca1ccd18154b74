from rest_framework import serializers

from integrations.models import WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint


class WebhookEndpointOutputSerializer(serializers.ModelSerializer):
    event_types = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "event_types",
            "is_active",
            "disabled_at",
            "disabled_reason",
            "failing_since",
            "consecutive_failures",
            "created_at",
            "updated_at",
        ]


class WebhookEndpointSecretSerializer(WebhookEndpointOutputSerializer):
    secret = serializers.CharField(
        help_text="The signing secret (whsec_...). Shown only in this response: store it now."
    )

    class Meta(WebhookEndpointOutputSerializer.Meta):
        fields = [*WebhookEndpointOutputSerializer.Meta.fields, "secret"]


class WebhookEndpointCreateSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=2000)
    description = serializers.CharField(
        max_length=200, required=False, default="", allow_blank=True
    )
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=64), min_length=1, max_length=50
    )


class WebhookEndpointUpdateSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=2000, required=False)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=64), min_length=1, max_length=50, required=False
    )
    is_active = serializers.BooleanField(required=False)


class WebhookDeliveryOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint",
            "event_id",
            "event_type",
            "status",
            "attempts",
            "max_attempts",
            "next_attempt_at",
            "last_attempt_at",
            "response_status",
            "duration_ms",
            "error",
            "created_at",
        ]


class WebhookDeliveryDetailSerializer(WebhookDeliveryOutputSerializer):
    payload = serializers.JSONField()

    class Meta(WebhookDeliveryOutputSerializer.Meta):
        fields = [
            *WebhookDeliveryOutputSerializer.Meta.fields,
            "payload",
            "request_excerpt",
            "response_excerpt",
        ]


class WebhookDeliveryFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=WebhookDeliveryStatus.choices, required=False)


class WebhookEventTypeSerializer(serializers.Serializer):
    type = serializers.CharField()
    description = serializers.CharField()
    schema = serializers.JSONField(help_text="The JSON schema of the delivery's `data`.")

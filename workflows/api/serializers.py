from django.conf import settings
from rest_framework import serializers

from core.api.query import QuerySerializer
from workflows.models import (
    RunStatus,
    Workflow,
    WorkflowRun,
    WorkflowSecret,
    WorkflowStepRun,
    WorkflowVersion,
)


class VersionSerializer(serializers.ModelSerializer):
    definition = serializers.DictField()

    class Meta:
        model = WorkflowVersion
        fields = ["id", "number", "definition", "note", "created_at"]


class WorkflowOutputSerializer(serializers.ModelSerializer):
    draft = serializers.DictField()
    published_version = VersionSerializer(allow_null=True)
    event_types = serializers.ListField(child=serializers.CharField())
    webhook_path = serializers.SerializerMethodField()

    class Meta:
        model = Workflow
        fields = [
            "id",
            "name",
            "description",
            "draft",
            "published_version",
            "is_enabled",
            "schedule_cron",
            "schedule_timezone",
            "next_run_at",
            "event_types",
            "webhook_path",
            "created_at",
            "updated_at",
        ]

    def get_webhook_path(self, workflow) -> str:
        """Where an inbound webhook starts this workflow (on the organization's host)."""
        return f"/api/v1/workflows/{workflow.pk}/webhook"


class WorkflowCreatedSerializer(WorkflowOutputSerializer):
    webhook_secret = serializers.CharField(help_text="Shown once: signs inbound webhooks.")

    class Meta(WorkflowOutputSerializer.Meta):
        fields = [*WorkflowOutputSerializer.Meta.fields, "webhook_secret"]


class WorkflowCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    draft = serializers.JSONField(required=False)


class WorkflowUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    draft = serializers.JSONField(required=False)
    is_enabled = serializers.BooleanField(required=False)


class PublishSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class WorkflowQuerySerializer(QuerySerializer):
    search = serializers.CharField(required=False, default="", max_length=200)


class StepRunSerializer(serializers.ModelSerializer):
    input = serializers.DictField()
    output = serializers.DictField()
    duration_ms = serializers.IntegerField(allow_null=True)

    class Meta:
        model = WorkflowStepRun
        fields = [
            "index",
            "key",
            "type",
            "status",
            "input",
            "output",
            "error",
            "attempts",
            "started_at",
            "finished_at",
            "duration_ms",
            "wait_until",
            "tokens",
            "cost",
        ]


class RunOutputSerializer(serializers.ModelSerializer):
    workflow_name = serializers.CharField(source="workflow.name")
    version = serializers.IntegerField(source="version.number")
    input = serializers.DictField()
    output = serializers.DictField()

    class Meta:
        model = WorkflowRun
        fields = [
            "id",
            "workflow",
            "workflow_name",
            "version",
            "status",
            "trigger",
            "input",
            "output",
            "error",
            "rerun_of",
            "created_at",
            "started_at",
            "finished_at",
            "total_tokens",
            "cost",
        ]


class RunDetailSerializer(RunOutputSerializer):
    steps = StepRunSerializer(many=True)

    class Meta(RunOutputSerializer.Meta):
        fields = [*RunOutputSerializer.Meta.fields, "steps"]


class RunStartSerializer(serializers.Serializer):
    input = serializers.JSONField(required=False, default=dict)


class RunStartQuerySerializer(QuerySerializer):
    wait = serializers.FloatField(required=False, default=0, min_value=0)

    def validate_wait(self, value):
        return min(value, settings.WORKFLOW_MAX_WAIT_SECONDS)


class RunQuerySerializer(QuerySerializer):
    status = serializers.ChoiceField(choices=RunStatus.choices, required=False, default="")
    workflow = serializers.UUIDField(required=False, default=None)


class DecisionSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class SecretOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = WorkflowSecret
        fields = ["id", "name", "last4", "created_at", "updated_at"]


class SecretInputSerializer(serializers.Serializer):
    name = serializers.RegexField(r"^[A-Za-z][A-Za-z0-9_]{0,63}$", max_length=64)
    value = serializers.CharField(max_length=4000, trim_whitespace=False)


class WebhookSecretSerializer(serializers.Serializer):
    webhook_secret = serializers.CharField()


class WebhookAcceptedSerializer(serializers.Serializer):
    run_id = serializers.UUIDField()
    status = serializers.CharField()


class NotifyDestinationQuerySerializer(QuerySerializer):
    target = serializers.ChoiceField(choices=["slack", "teams"], required=False, default="")


class NotifyDestinationSerializer(serializers.Serializer):
    """A channel a notify step may post to (``target``, ``integration_id``, ``channel_id``
    are what the step names)."""

    target = serializers.CharField(source="kind")
    integration_id = serializers.CharField()
    integration_name = serializers.CharField()
    channel_id = serializers.CharField()
    name = serializers.CharField(help_text="The channel's name where known, else empty.")
    channel_kind = serializers.CharField()

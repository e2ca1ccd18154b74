from rest_framework import serializers

from core.api.query import QuerySerializer
from prompts.models import PromptTemplate, PromptVersion, Visibility


class VariableSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.ChoiceField(
        choices=["short_text", "long_text", "number", "choice", "boolean", "date"]
    )
    required = serializers.BooleanField()
    default = serializers.JSONField(allow_null=True)
    help = serializers.CharField(allow_blank=True)
    choices = serializers.ListField(child=serializers.CharField())


class VersionOutputSerializer(serializers.ModelSerializer):
    variables = VariableSerializer(many=True)
    model_hints = serializers.DictField()

    class Meta:
        model = PromptVersion
        fields = [
            "id",
            "number",
            "body",
            "variables",
            "model_hints",
            "note",
            "created_by",
            "created_at",
        ]


class VersionWithUsageSerializer(VersionOutputSerializer):
    """A version in the history, with its uses and what they produced (ledger figures)."""

    uses = serializers.IntegerField(source="use_count", read_only=True)
    last_used_at = serializers.DateTimeField(allow_null=True, read_only=True)
    tokens = serializers.IntegerField(source="used_tokens", read_only=True)
    cost = serializers.DecimalField(
        source="used_cost", max_digits=14, decimal_places=8, read_only=True
    )

    class Meta(VersionOutputSerializer.Meta):
        fields = [*VersionOutputSerializer.Meta.fields, "uses", "last_used_at", "tokens", "cost"]


class TemplateOutputSerializer(serializers.ModelSerializer):
    tags = serializers.ListField(child=serializers.CharField())
    published_version = VersionOutputSerializer(allow_null=True)
    uses = serializers.IntegerField(source="use_count", default=0)
    last_used_at = serializers.DateTimeField(allow_null=True, default=None)
    tokens = serializers.IntegerField(source="used_tokens", default=0, allow_null=True)
    cost = serializers.DecimalField(
        source="used_cost", max_digits=14, decimal_places=8, default=0, allow_null=True
    )

    class Meta:
        model = PromptTemplate
        fields = [
            "id",
            "name",
            "description",
            "category",
            "tags",
            "visibility",
            "published_version",
            "uses",
            "last_used_at",
            "tokens",
            "cost",
            "created_at",
            "updated_at",
        ]


class TemplateQuerySerializer(QuerySerializer):
    search = serializers.CharField(required=False, default="", max_length=200)
    category = serializers.CharField(required=False, default="", max_length=60)
    tag = serializers.CharField(required=False, default="", max_length=40)


class VersionFieldsSerializer(serializers.Serializer):
    body = serializers.CharField(trim_whitespace=False, max_length=200_000)
    variables = serializers.JSONField(required=False, default=list)
    model_hints = serializers.JSONField(required=False, default=dict)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=300)


class TemplateCreateSerializer(VersionFieldsSerializer):
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(required=False, allow_blank=True, max_length=500)
    category = serializers.CharField(required=False, allow_blank=True, max_length=60)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=40), required=False, max_length=20
    )
    visibility = serializers.ChoiceField(choices=Visibility.choices, required=False)


class TemplateUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=500)
    category = serializers.CharField(required=False, allow_blank=True, max_length=60)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=40), required=False, max_length=20
    )
    visibility = serializers.ChoiceField(choices=Visibility.choices, required=False)


class VersionCreateSerializer(VersionFieldsSerializer):
    publish = serializers.BooleanField(required=False, default=False)


class RenderInputSerializer(serializers.Serializer):
    version = serializers.IntegerField(
        required=False, min_value=1, help_text="A version number; the published one if omitted."
    )
    values = serializers.JSONField(required=False, default=dict)
    record_use = serializers.ChoiceField(
        choices=["chat"], required=False, help_text="Count this render as a use (the composer)."
    )


class PreviewInputSerializer(serializers.Serializer):
    body = serializers.CharField(trim_whitespace=False, max_length=200_000)
    variables = serializers.JSONField(required=False, default=list)
    values = serializers.JSONField(required=False, default=dict)


class RenderOutputSerializer(serializers.Serializer):
    text = serializers.CharField()
    version = serializers.IntegerField(allow_null=True)


class DiffQuerySerializer(QuerySerializer):
    from_version = serializers.IntegerField(min_value=1)
    to_version = serializers.IntegerField(min_value=1)


class DiffOutputSerializer(serializers.Serializer):
    from_version = serializers.IntegerField()
    to_version = serializers.IntegerField()
    body = serializers.CharField(allow_blank=True)
    variables_added = serializers.ListField(child=serializers.CharField())
    variables_removed = serializers.ListField(child=serializers.CharField())
    variables_changed = serializers.ListField(child=serializers.CharField())
    model_hints_changed = serializers.BooleanField()


class ExportSerializer(serializers.Serializer):
    format = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    category = serializers.CharField(allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField())
    visibility = serializers.CharField()
    published_version = serializers.IntegerField(allow_null=True)
    versions = serializers.ListField(child=serializers.DictField())


class ImportInputSerializer(serializers.Serializer):
    template = serializers.JSONField(help_text="An export of GET /prompts/{id}/export.")

from rest_framework import serializers

from files.models import File, FileSettings


class FileUploadSerializer(serializers.Serializer):
    files = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True),
        allow_empty=False,
        help_text="One or more files (FILES_MAX_PER_UPLOAD at most).",
    )


class FileOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = File
        fields = [
            "id",
            "name",
            "content_type",
            "kind",
            "purpose",
            "size",
            "sha256",
            "status",
            "error",
            "page_count",
            "data_summary",
            "metadata",
            "processed_at",
            "created_at",
        ]


class FileListOutputSerializer(serializers.Serializer):
    results = FileOutputSerializer(many=True)


class FileSettingsSerializer(serializers.ModelSerializer):
    attachment_retention_days = serializers.IntegerField(
        min_value=0,
        max_value=3650,
        help_text="Days chat attachments are kept; 0 keeps them forever.",
    )

    class Meta:
        model = FileSettings
        fields = ["attachment_retention_days", "updated_at"]
        read_only_fields = ["updated_at"]

"""Stored files (organization schema): the original bytes of uploads, through
Django's storage API (local disk by default, S3 when configured)."""

import uuid

from django.db import models

from core.lookups import user_reference


class FileStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed"


def _storage_key(instance: "File", filename: str) -> str:
    from django.db import connection

    # The schema keeps organizations' files apart in a shared bucket or folder.
    return f"{connection.schema_name}/files/{instance.id}/{filename}"


class File(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    storage = models.FileField(upload_to=_storage_key, max_length=500)
    uploaded_by = user_reference()
    status = models.CharField(max_length=16, choices=FileStatus.choices, default=FileStatus.PENDING)
    extracted_text = models.TextField(blank=True)
    summary = models.CharField(
        max_length=500, blank=True, help_text="A short description of the data."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

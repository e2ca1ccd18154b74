"""Stored files (organization schema): the original bytes of uploads, through
Django's storage API (local disk by default, S3 when configured), and the one
extraction result every user of the file reads.

A knowledge ``Document`` and a chat attachment both point at a ``File``; neither
keeps a copy of the text. The file's ``status`` is its extraction's (pending,
processed, failed); a Document's own status is its ingestion's (chunks, vectors).
"""

import uuid

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from core.lookups import user_reference


class FileStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed"


class FilePurpose(models.TextChoices):
    # Bytes behind a knowledge document: kept as long as the document.
    KNOWLEDGE = "knowledge", "Knowledge document"
    # Uploaded through the Files API or the chat composer: kept for the
    # organization's attachment retention (FileSettings).
    ATTACHMENT = "attachment", "Attachment"


class FileKind(models.TextChoices):
    DOCUMENT = "document", "Document"  # text is extracted (PDF, DOCX, HTML, text...)
    TABLE = "table", "Table"  # CSV and XLSX: a data summary, queries over all rows
    IMAGE = "image", "Image"  # for vision models; no text


def _storage_key(instance: "File", filename: str) -> str:
    from django.db import connection

    # The schema keeps organizations' files apart in a shared bucket or folder.
    return f"{connection.schema_name}/files/{instance.id}/{filename}"


class File(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255)
    # Decided by the content (files.detect), never by the name or the client's header.
    content_type = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=FileKind.choices, default=FileKind.DOCUMENT)
    purpose = models.CharField(
        max_length=16, choices=FilePurpose.choices, default=FilePurpose.ATTACHMENT, db_index=True
    )
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    storage = models.FileField(upload_to=_storage_key, max_length=500)
    uploaded_by = user_reference()
    # Uploaded by a program with this API key (public schema: an id, not a key).
    api_key_id = models.UUIDField(null=True, blank=True, db_index=True)
    status = models.CharField(max_length=16, choices=FileStatus.choices, default=FileStatus.PENDING)
    # The extraction result, written once by files.services.file_record_extraction.
    extracted_text = models.TextField(blank=True)
    page_count = models.PositiveIntegerField(null=True, blank=True)
    # Tables: {"row_count", "columns": [{"name", "type", "non_empty", "distinct", "min",
    # "max", "sum", "mean", "examples", "values"}], "sheet"}. Computed over every row.
    data_summary = models.JSONField(default=dict, blank=True)
    # Images: {"width", "height", "format"}.
    metadata = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=1000, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "id"]

    def __str__(self) -> str:
        return self.name


class FileSettings(models.Model):
    """The organization's file settings: one row per schema (``pk=1``)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    # Chat attachments (purpose "attachment") older than this are deleted, bytes and
    # rows, by the beat task files.attachments_expire. 0 keeps them forever.
    attachment_retention_days = models.PositiveIntegerField(
        default=90, validators=[MinValueValidator(0), MaxValueValidator(3650)]
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "file settings"
        verbose_name_plural = "file settings"

    def __str__(self) -> str:
        return "File settings"

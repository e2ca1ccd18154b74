"""Writes of stored files: upload (checked, counted, stored), the extraction result,
delete (bytes after commit), settings, and the retention sweep."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from audit.services import Actor, audit_record
from core import events
from core.tenancy import require_tenant_schema
from files import processing
from files.detect import kind_of
from files.models import File, FilePurpose, FileSettings, FileStatus

logger = logging.getLogger(__name__)


def file_create(
    *,
    name: str,
    data: bytes,
    content_type: str,
    user=None,
    purpose: str = FilePurpose.KNOWLEDGE,
    api_key_id=None,
) -> File:
    """Store ``data`` and save its row.

    Storage is not transactional: a caller whose transaction may still roll back
    must call ``file_discard_bytes`` for the files it created when it does.
    """
    require_tenant_schema()
    file = File(
        name=name[:255],
        content_type=content_type,
        kind=kind_of(content_type),
        purpose=purpose,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        uploaded_by=user,
        api_key_id=api_key_id,
    )
    file.storage.save(name, ContentFile(data), save=False)
    try:
        file.save()
    except BaseException:
        file_discard_bytes(file=file)
        raise
    return file


def file_discard_bytes(*, file: File) -> None:
    file.storage.storage.delete(file.storage.name)


def file_signed_url(*, file: File) -> str | None:
    """A short-lived signed URL where the storage gives one (S3); None for local disk,
    whose bytes the platform streams itself."""
    storage = file.storage.storage
    if not hasattr(storage, "bucket_name"):
        return None
    return storage.url(file.storage.name, expire=settings.FILES_DOWNLOAD_URL_SECONDS)


def file_read(*, file: File) -> bytes:
    with file.storage.open("rb") as handle:
        return handle.read()


def file_record_extraction(
    *,
    file: File,
    text: str = "",
    page_count: int | None = None,
    data_summary: dict | None = None,
    metadata: dict | None = None,
    error: str = "",
) -> File:
    """The one place an extraction result is written: processed with its text (and
    summary), or failed with the reason."""
    file.status = FileStatus.FAILED if error else FileStatus.PROCESSED
    file.extracted_text = "" if error else text
    file.page_count = page_count
    file.data_summary = data_summary or {}
    file.metadata = metadata or {}
    file.error = error[:1000]
    file.processed_at = timezone.now()
    file.save(
        update_fields=[
            "status",
            "extracted_text",
            "page_count",
            "data_summary",
            "metadata",
            "error",
            "processed_at",
        ]
    )
    return file


def file_delete(*, file: File) -> None:
    """Delete the row now and the stored bytes once the deletion is committed."""
    key, storage = file.storage.name, file.storage.storage
    file.delete()
    transaction.on_commit(lambda: storage.delete(key))


def file_process(*, file_id) -> File | None:
    """Extract a pending file (the task's body; safe to run twice: a file already
    processed or failed is left alone)."""
    require_tenant_schema()
    with transaction.atomic():
        file = File.objects.select_for_update().filter(pk=file_id).first()
        if file is None or file.status != FileStatus.PENDING:
            return file
        processing.process(file)
    if file.status == FileStatus.PROCESSED:
        events.event_emit(
            type="file.processed", payload={"file_id": str(file.pk), "name": file.name}
        )
    return file


# -- settings and retention ----------------------------------------------------------


def file_settings_get() -> FileSettings:
    require_tenant_schema()
    settings_row, _ = FileSettings.objects.get_or_create(pk=1)
    return settings_row


@transaction.atomic
def file_settings_update(*, attachment_retention_days: int, actor: Actor | None) -> FileSettings:
    row = FileSettings.objects.select_for_update().filter(pk=1).first() or file_settings_get()
    before = row.attachment_retention_days
    if not 0 <= attachment_retention_days <= 3650:
        raise ValidationError({"attachment_retention_days": ["Use 0 (forever) to 3650 days."]})
    row.attachment_retention_days = attachment_retention_days
    row.save()
    if before != attachment_retention_days:
        audit_record(
            actor=actor,
            action="file_settings.updated",
            target=row,
            changes={"attachment_retention_days": [before, attachment_retention_days]},
        )
    return row


def attachments_expire(*, now=None, batch: int = 500) -> int:
    """Delete attachments older than the organization's retention (bytes after each
    batch commits) and record how many went. Safe to run twice."""
    require_tenant_schema()
    days = file_settings_get().attachment_retention_days
    if not days:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    removed = 0
    while True:
        with transaction.atomic():
            expired = list(
                File.objects.select_for_update(skip_locked=True)
                .filter(purpose=FilePurpose.ATTACHMENT, created_at__lt=cutoff)
                .order_by("created_at")[:batch]
            )
            for file in expired:
                file_delete(file=file)
            if expired:
                audit_record(
                    actor=None,
                    action="files.expired",
                    target=file_settings_get(),
                    changes={"deleted": len(expired), "retention_days": days},
                )
        removed += len(expired)
        if len(expired) < batch:
            return removed


def attachments_expire_everywhere() -> dict:
    """The sweep in every organization's schema (the beat task runs in public)."""
    from django_tenants.utils import schema_context

    from users.models import Organization

    removed = {}
    schemas = Organization.objects.exclude(schema_name=settings.PUBLIC_SCHEMA_NAME).values_list(
        "schema_name", flat=True
    )
    for schema in schemas:
        with schema_context(schema):
            count = attachments_expire()
        if count:
            removed[schema] = count
    return removed

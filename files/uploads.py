"""Uploads through the Files API: checked (413/415/400), counted against the plan's
storage, stored all or nothing, and queued for extraction; deletes, audited."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from kombu.exceptions import OperationalError as KombuOperationalError

from audit.services import Actor, audit_record
from billing import quotas
from core import errors
from core.dependencies import require_broker
from core.tenancy import current_organization, require_tenant_schema
from files import processing
from files.detect import detect_file_type
from files.models import File, FilePurpose
from files.services import file_create, file_delete, file_discard_bytes
from files.tasks import file_process_task

logger = logging.getLogger(__name__)


class UnsupportedMediaType(errors.UnsupportedType):
    code = "unsupported_media_type"


class PayloadTooLarge(errors.PayloadTooLarge):
    code = "file_too_large"


@dataclass(frozen=True)
class Upload:
    name: str
    data: bytes


def check_upload(upload: Upload, max_bytes: int) -> str:
    """The upload's content type, or a clear 413/415/400."""
    if len(upload.data) > max_bytes:
        raise PayloadTooLarge(
            f"{upload.name} is {len(upload.data):,} bytes; the limit is {max_bytes:,} bytes."
        )
    try:
        return detect_file_type(upload.data, upload.name)
    except processing.UnsupportedFile as exc:
        if exc.empty:
            raise errors.DomainError(f"{upload.name}: {exc.message}", code="empty_file") from exc
        raise UnsupportedMediaType(f"{upload.name}: {exc.message}") from exc


def _enqueue(file: File) -> None:
    file_id = str(file.id)

    def send() -> None:
        try:
            file_process_task.delay(file_id)
        except KombuOperationalError:
            # Stays pending; a chat turn that uses it processes it then.
            logger.exception("file %s stored but its task could not be queued", file_id)

    transaction.on_commit(send)


def files_upload(
    *, uploads: list[Upload], user=None, api_key_id=None, actor: Actor | None = None
) -> list[File]:
    """Store uploaded files (all or nothing) and queue their extraction.

    Every file is checked before any is stored: too large (413), empty (400) or not a
    type the platform reads (415) refuses the whole request; so does the plan's storage.
    """
    require_tenant_schema()
    if not uploads:
        raise ValidationError({"files": ["Attach at least one file."]})
    if len(uploads) > settings.FILES_MAX_PER_UPLOAD:
        raise ValidationError(
            {"files": [f"Upload at most {settings.FILES_MAX_PER_UPLOAD} files at once."]}
        )
    content_types = [check_upload(u, settings.FILES_MAX_UPLOAD_BYTES) for u in uploads]
    require_broker()
    created: list[File] = []
    try:
        with transaction.atomic():
            quotas.quota_check_storage(
                current_organization(), size_bytes=sum(len(u.data) for u in uploads)
            )
            for upload, content_type in zip(uploads, content_types, strict=True):
                file = file_create(
                    name=upload.name,
                    data=upload.data,
                    content_type=content_type,
                    user=user,
                    purpose=FilePurpose.ATTACHMENT,
                    api_key_id=api_key_id,
                )
                created.append(file)
                audit_record(actor=actor, action="file.uploaded", target=file)
                _enqueue(file)
    except BaseException:
        for file in created:
            file_discard_bytes(file=file)
        raise
    return created


def file_remove(*, file: File, actor: Actor | None = None) -> None:
    """Delete through the API: audited; its bytes go once the deletion commits."""
    with transaction.atomic():
        audit_record(actor=actor, action="file.deleted", target=file)
        file_delete(file=file)

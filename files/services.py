"""Writes of stored files."""

import hashlib

from django.core.files.base import ContentFile
from django.db import transaction

from core.tenancy import require_tenant_schema
from files.models import File


def file_create(*, name: str, data: bytes, content_type: str, user=None) -> File:
    """Store ``data`` and save its row.

    Storage is not transactional: a caller whose transaction may still roll back
    must call ``file_discard_bytes`` for the files it created when it does.
    """
    require_tenant_schema()
    file = File(
        name=name[:255],
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        uploaded_by=user,
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


def file_read(*, file: File) -> bytes:
    with file.storage.open("rb") as handle:
        return handle.read()


def file_update_extraction(*, file: File, status: str, extracted_text: str, summary: str) -> None:
    file.status = status
    file.extracted_text = extracted_text
    file.summary = summary[:500]
    file.save(update_fields=["status", "extracted_text", "summary"])


def file_delete(*, file: File) -> None:
    """Delete the row now and the stored bytes once the deletion is committed."""
    key, storage = file.storage.name, file.storage.storage
    file.delete()
    transaction.on_commit(lambda: storage.delete(key))

"""Reads of stored files, scoped to what the caller may see."""

from django.db.models import QuerySet, Sum

from core.access import Caller
from core.lookups import parse_uuid
from files.models import File, FilePurpose


def files_visible(*, caller: Caller) -> QuerySet[File]:
    """Admins see every uploaded file of the organization; others the files they
    uploaded (a person's, or an API key's). Knowledge documents' files are reached
    through their documents, not here."""
    files = File.objects.filter(purpose=FilePurpose.ATTACHMENT)
    if caller.is_admin:
        return files
    if caller.api_key is not None:
        # A key may name a narrower owner of the files it uploads and attaches: the
        # widget's key names the visitor (integrations/widget, ADR 0075).
        owner = getattr(caller.api_key, "files_owner_id", None) or caller.api_key.pk
        return files.filter(api_key_id=owner)
    user_id = getattr(caller.user, "pk", None)
    return (
        files.filter(uploaded_by_id=user_id, api_key_id__isnull=True) if user_id else files.none()
    )


def file_get(*, caller: Caller, file_id) -> File:
    """The file if ``caller`` may see it; File.DoesNotExist alike for missing and hidden."""
    return files_visible(caller=caller).get(id=parse_uuid(file_id))


def attachment_bytes() -> int:
    """Bytes of attachments (knowledge files are counted by their documents)."""
    total = File.objects.filter(purpose=FilePurpose.ATTACHMENT).aggregate(size=Sum("size"))
    return total["size"] or 0

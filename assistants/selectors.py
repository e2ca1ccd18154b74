"""Reads of assistants and credentials (organization schema)."""

import uuid

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Q, QuerySet

from assistants.models import Assistant, ProviderCredential
from config.tenancy import require_tenant_schema


def _uuid(value) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise ObjectDoesNotExist(f"Malformed id: {value!r}") from None


def assistant_list(*, is_active: bool | None = None, search: str = "") -> QuerySet[Assistant]:
    require_tenant_schema()
    assistants = Assistant.objects.select_related("model", "fallback_model").prefetch_related(
        "collections"
    )
    if is_active is not None:
        assistants = assistants.filter(is_active=is_active)
    if search:
        assistants = assistants.filter(Q(name__icontains=search) | Q(description__icontains=search))
    return assistants


def assistant_get(*, assistant_id) -> Assistant:
    return assistant_list().get(id=_uuid(assistant_id))


def credential_list() -> QuerySet[ProviderCredential]:
    require_tenant_schema()
    return ProviderCredential.objects.all()


def credential_get(*, credential_id) -> ProviderCredential:
    return credential_list().get(id=_uuid(credential_id))

"""Reads of API keys, always within one organization."""

from django.db.models import QuerySet

from core.lookups import parse_uuid
from integrations.models import APIKey


def api_key_list(*, organization) -> QuerySet[APIKey]:
    return APIKey.objects.filter(organization=organization).select_related("created_by")


def api_key_get(*, organization, api_key_id) -> APIKey:
    return api_key_list(organization=organization).get(id=parse_uuid(api_key_id))


def api_key_labels(ids) -> dict[str, str]:
    """{id: "name (prefix)"} of the API keys ``ids`` (labels of usage reports)."""
    rows = APIKey.objects.filter(id__in=ids).values_list("id", "name", "prefix")
    return {str(pk): f"{name} ({prefix})" for pk, name, prefix in rows}

"""Reads of Slack and Teams integrations, always within one organization."""

from django.db.models import QuerySet

from core.lookups import parse_uuid
from integrations.models import Integration, IntegrationEvent


def integration_list(*, organization) -> QuerySet[Integration]:
    return Integration.objects.filter(organization=organization).select_related("installed_by")


def integration_get(*, organization, integration_id) -> Integration:
    return integration_list(organization=organization).get(id=parse_uuid(integration_id))


def integration_events(*, organization, integration_id) -> QuerySet[IntegrationEvent]:
    integration = integration_get(organization=organization, integration_id=integration_id)
    return IntegrationEvent.objects.filter(
        organization=organization, integration=integration
    ).order_by("-created_at")

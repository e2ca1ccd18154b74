"""Reads of webhook endpoints and deliveries, always within one organization."""

from django.db.models import QuerySet

from core.lookups import parse_uuid
from integrations.models import WebhookDelivery, WebhookEndpoint


def endpoint_list(*, organization) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(organization=organization)


def endpoint_get(*, organization, endpoint_id) -> WebhookEndpoint:
    return endpoint_list(organization=organization).get(id=parse_uuid(endpoint_id))


def delivery_list(*, organization, endpoint=None, status: str = "") -> QuerySet[WebhookDelivery]:
    deliveries = WebhookDelivery.objects.filter(organization=organization)
    if endpoint is not None:
        deliveries = deliveries.filter(endpoint=endpoint)
    if status:
        deliveries = deliveries.filter(status=status)
    return deliveries


def delivery_get(*, organization, delivery_id) -> WebhookDelivery:
    return delivery_list(organization=organization).get(id=parse_uuid(delivery_id))

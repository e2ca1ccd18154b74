"""The whole path on a real Celery worker and broker, with committed rows: a document
is ingested, ``document.completed`` fans out to the endpoint, the delivery is sent and
the receiver verifies its signature. The test removes what it committed."""

import time

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from audit.services import Actor
from billing.models import UsageRecord
from integrations.models import WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint
from integrations.webhooks import services
from integrations.webhooks.tests.receiver import Receiver
from knowledge_base import services as knowledge_services
from knowledge_base.models import Collection
from tests.factories import local_embedding_model


def _wait_for(predicate, timeout=90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def committed(organizations, django_db_blocker):
    org = organizations["alpha"]
    receiver = Receiver().start()
    with django_db_blocker.unblock():
        started = timezone.now()
        with schema_context(org.slug):
            endpoint, receiver.secret = services.endpoint_create(
                organization=org.organization,
                url=receiver.url,
                event_types=["document.completed"],
                actor=Actor(user=org.admin),
            )
            collection = knowledge_services.collection_create(
                name="Webhook worker test",
                embedding_model=local_embedding_model(),
                chunk_size=80,
                chunk_overlap=10,
            )
        yield org, endpoint, collection, receiver
        receiver.stop()
        WebhookEndpoint.objects.filter(pk=endpoint.pk).delete()
        with schema_context(org.slug):
            Collection.objects.filter(pk=collection.pk).delete()
        UsageRecord.objects.filter(organization=org.organization, created_at__gte=started).delete()


def test_an_ingested_document_is_announced_to_the_endpoint_by_the_worker(
    committed, celery_worker, django_db_blocker
):
    org, endpoint, collection, receiver = committed
    with django_db_blocker.unblock(), schema_context(org.slug):
        document = knowledge_services.document_create_text(
            collection=collection, title="Webhook guide", text="# Guide\n\n" + "A fact. " * 80
        ).document

        assert _wait_for(lambda: receiver.received), "no delivery reached the receiver"
        [got] = receiver.received
        assert got.verified, got.error
        assert got.payload["type"] == "document.completed"
        assert got.payload["data"]["document_id"] == str(document.pk)

        def logged():
            return WebhookDelivery.objects.filter(
                endpoint=endpoint, status=WebhookDeliveryStatus.SUCCEEDED
            ).exists()

        assert _wait_for(logged)

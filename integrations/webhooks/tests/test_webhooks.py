"""Outbound webhooks: signed deliveries a receiver verifies with the standardwebhooks
library, retries on the schedule, manual redelivery, auto-disabling with an e-mail,
the outbound policy, and the API (roles, other organizations, secrets at rest)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from django_tenants.utils import schema_context
from freezegun import freeze_time

from audit.models import AuditAction, AuditEvent
from audit.services import Actor
from core import crypto, events, outbound
from integrations.models import WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint
from integrations.webhooks import catalogue, services
from integrations.webhooks.tests.receiver import Receiver
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


def _endpoint(org, receiver, events=("document.completed",)) -> WebhookEndpoint:
    with schema_context(org.slug):
        endpoint, secret = services.endpoint_create(
            organization=org.organization,
            url=receiver.url,
            event_types=list(events),
            actor=Actor(user=org.admin),
        )
    receiver.secret = secret
    return endpoint


def _event(org, event_type="document.completed", data=None) -> list[WebhookDelivery]:
    return services.deliveries_create(
        schema_name=org.slug,
        event_id=f"evt_{uuid.uuid4().hex}",
        event_type=event_type,
        occurred_at=timezone.now().isoformat(),
        data=data
        or {
            "document_id": str(uuid.uuid4()),
            "collection_id": str(uuid.uuid4()),
            "title": "Refund policy",
            "chunks": 3,
        },
    )


class TestDelivery:
    def test_a_delivery_is_signed_and_the_receiver_verifies_it(self, org_a, receiver):
        endpoint = _endpoint(org_a, receiver)
        [delivery] = _event(org_a)

        result = services.delivery_attempt(delivery_id=delivery.pk)

        assert result.status == WebhookDeliveryStatus.SUCCEEDED
        [got] = receiver.received
        assert got.verified, got.error
        assert got.payload["type"] == "document.completed"
        assert got.payload["data"]["title"] == "Refund policy"
        assert got.headers["webhook-id"] == f"msg_{delivery.event_id.removeprefix('evt_')}"
        assert got.headers["webhook-signature"].startswith("v1,")
        # the log keeps excerpts of both sides, never the signature
        assert result.response_status == 200
        assert '"verified": true' in result.response_excerpt
        assert "Refund policy" in result.request_excerpt
        assert got.headers["webhook-signature"] not in result.request_excerpt
        assert WebhookEndpoint.objects.get(pk=endpoint.pk).consecutive_failures == 0

    def test_a_wrong_secret_does_not_verify(self, org_a, receiver):
        _endpoint(org_a, receiver)
        [delivery] = _event(org_a)
        receiver.secret = "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"

        services.delivery_attempt(delivery_id=delivery.pk)

        assert receiver.received[0].verified is False

    def test_only_active_endpoints_subscribed_to_the_event_get_it(self, org_a, org_b, receiver):
        _endpoint(org_a, receiver, events=["document.failed"])
        other = Receiver().start()
        try:
            _endpoint(org_b, other)  # beta listens to document.completed
            assert _event(org_a) == []  # alpha's event: nobody of alpha subscribed
            assert WebhookDelivery.objects.filter(organization=org_b.organization).count() == 0
        finally:
            other.stop()

    def test_creating_deliveries_twice_for_one_event_adds_nothing(self, org_a, receiver):
        _endpoint(org_a, receiver)
        event_id = f"evt_{uuid.uuid4().hex}"
        kwargs = dict(
            schema_name=org_a.slug,
            event_id=event_id,
            event_type="document.completed",
            occurred_at=timezone.now().isoformat(),
            data={},
        )
        assert len(services.deliveries_create(**kwargs)) == 1
        assert services.deliveries_create(**kwargs) == []
        assert WebhookDelivery.objects.filter(event_id=event_id).count() == 1

    def test_a_leased_delivery_is_not_sent_twice(self, org_a, receiver):
        _endpoint(org_a, receiver)
        [delivery] = _event(org_a)
        assert services._claim(delivery.pk) is not None

        # a second task for the same delivery while the first holds the lease
        assert services.delivery_attempt(delivery_id=delivery.pk) is None
        assert receiver.received == []


class TestRetries:
    def test_failures_are_retried_with_backoff_until_a_success(self, org_a, receiver):
        receiver.responses = [500, 503, 200]
        _endpoint(org_a, receiver)
        [delivery] = _event(org_a)
        start = timezone.now()
        schedule = services.settings.WEBHOOK_RETRY_SCHEDULE

        with freeze_time(start) as clock:
            first = services.delivery_attempt(delivery_id=delivery.pk)
            assert first.status == WebhookDeliveryStatus.RETRYING
            assert first.next_attempt_at == start + timedelta(seconds=schedule[0])
            assert first.error == "The endpoint answered 500."
            # not due yet: nothing is sent
            assert services.delivery_attempt(delivery_id=delivery.pk) is None
            assert services.deliveries_due() == []

            clock.tick(schedule[0])
            assert services.deliveries_due() == [str(delivery.pk)]
            second = services.delivery_attempt(delivery_id=delivery.pk)
            assert second.status == WebhookDeliveryStatus.RETRYING
            assert second.next_attempt_at == timezone.now() + timedelta(seconds=schedule[1])

            clock.tick(schedule[1])
            third = services.delivery_attempt(delivery_id=delivery.pk)

        assert third.status == WebhookDeliveryStatus.SUCCEEDED and third.attempts == 3
        assert [r.verified for r in receiver.received] == [True, True, True]
        assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
        # every attempt is signed afresh (its own timestamp)
        assert len({r.headers["webhook-timestamp"] for r in receiver.received}) == 3

    def test_the_schedule_lasts_about_a_day_then_the_delivery_fails(self, org_a, receiver):
        schedule = services.settings.WEBHOOK_RETRY_SCHEDULE
        assert 20 * 3600 <= sum(schedule) <= 26 * 3600
        assert schedule == sorted(schedule[:-1]) + schedule[-1:]  # growing waits
        receiver.responses = [500]
        _endpoint(org_a, receiver)
        [delivery] = _event(org_a)

        with freeze_time(timezone.now()) as clock:
            for wait in schedule:
                result = services.delivery_attempt(delivery_id=delivery.pk)
                assert result.status == WebhookDeliveryStatus.RETRYING
                clock.tick(wait)
            result = services.delivery_attempt(delivery_id=delivery.pk)

        assert result.status == WebhookDeliveryStatus.FAILED
        assert result.attempts == len(schedule) + 1 and result.next_attempt_at is None
        assert len(receiver.received) == len(schedule) + 1

    def test_sustained_failure_disables_the_endpoint_and_emails_the_admins(
        self, org_a, receiver, settings, django_capture_on_commit_callbacks
    ):
        settings.WEBHOOK_DISABLE_AFTER_SECONDS = 3600
        settings.WEBHOOK_DISABLE_AFTER_FAILURES = 3
        settings.WEBHOOK_RETRY_SCHEDULE = [1200]
        receiver.responses = [500]
        endpoint = _endpoint(org_a, receiver)

        with freeze_time(timezone.now()) as clock, django_capture_on_commit_callbacks(execute=True):
            for _ in range(4):  # 0, 20, 40, 60 minutes: failing for an hour, 4 in a row
                for delivery in _event(org_a):
                    services.delivery_attempt(delivery_id=delivery.pk)
                clock.tick(1200)

        endpoint.refresh_from_db()
        assert endpoint.is_active is False
        assert "Every delivery failed since" in endpoint.disabled_reason
        [email] = [m for m in mail.outbox if "Webhook endpoint disabled" in m.subject]
        assert email.to == [org_a.admin.email]
        assert receiver.url in email.body
        # a disabled endpoint gets no new deliveries
        assert _event(org_a) == []

    def test_enabling_again_clears_the_failure_streak(self, org_a, receiver, client_for):
        endpoint = _endpoint(org_a, receiver)
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            is_active=False, consecutive_failures=12, failing_since=timezone.now()
        )

        response = client_for(org_a, "admin").patch(
            f"/api/v1/webhooks/endpoints/{endpoint.pk}", {"is_active": True}, format="json"
        )

        assert response.status_code == 200, response.content
        assert response.json()["is_active"] is True
        assert response.json()["consecutive_failures"] == 0


class TestRedelivery:
    def test_an_admin_redelivers_a_failed_delivery(self, org_a, receiver, client_for):
        receiver.responses = [500, 200]
        _endpoint(org_a, receiver)
        [delivery] = _event(org_a)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(max_attempts=1)
        assert services.delivery_attempt(delivery_id=delivery.pk).status == "failed"

        response = client_for(org_a, "admin").post(
            f"/api/v1/webhooks/deliveries/{delivery.pk}/redeliver"
        )
        assert response.status_code == 202, response.content
        assert response.json()["status"] == "pending"
        result = services.delivery_attempt(delivery_id=delivery.pk)

        assert result.status == WebhookDeliveryStatus.SUCCEEDED and result.attempts == 2
        assert [r.verified for r in receiver.received] == [True, True]
        assert (
            receiver.received[0].headers["webhook-id"] == receiver.received[1].headers["webhook-id"]
        )
        with schema_context(org_a.slug):
            assert AuditEvent.objects.filter(action=AuditAction.WEBHOOK_REDELIVERED).exists()

    def test_a_test_event_reaches_the_receiver(self, org_a, receiver, client_for):
        endpoint = _endpoint(org_a, receiver)

        response = client_for(org_a, "admin").post(f"/api/v1/webhooks/endpoints/{endpoint.pk}/test")
        assert response.status_code == 202, response.content
        services.delivery_attempt(delivery_id=response.json()["id"])

        [got] = receiver.received
        assert got.verified and got.payload["type"] == catalogue.TEST_EVENT


class TestOutboundPolicy:
    def test_a_private_address_is_refused_when_saved(self, org_a, client_for, settings):
        settings.OUTBOUND_ALLOWED_NETWORKS = []
        admin = client_for(org_a, "admin")

        for url in ("http://127.0.0.1:9/hooks", "http://10.1.2.3/", "http://169.254.169.254/x"):
            response = admin.post(
                "/api/v1/webhooks/endpoints",
                {"url": url, "event_types": ["document.completed"]},
                format="json",
            )
            error = assert_error(response, 400)
            assert "url" in error["fields"], (url, error)
        assert not WebhookEndpoint.objects.filter(organization=org_a.organization).exists()

    def test_a_private_address_is_refused_when_sending(self, org_a, receiver, settings):
        _endpoint(org_a, receiver)  # saved while the operator allowed loopback
        [delivery] = _event(org_a)
        settings.OUTBOUND_ALLOWED_NETWORKS = []

        result = services.delivery_attempt(delivery_id=delivery.pk)

        assert result.status == WebhookDeliveryStatus.RETRYING
        assert result.error == outbound.UNREACHABLE_MESSAGE
        assert result.response_status is None
        assert receiver.received == []


class TestAPI:
    def test_admin_creates_an_endpoint_whose_secret_is_shown_once_and_encrypted(
        self, org_a, client_for
    ):
        admin = client_for(org_a, "admin")

        created = admin.post(
            "/api/v1/webhooks/endpoints",
            {
                "url": "https://hooks.example.invalid/receive",
                "event_types": ["chat.message.completed", "document.completed"],
                "description": "CRM",
            },
            format="json",
        )

        assert created.status_code == 201, created.content
        body = created.json()
        assert body["secret"].startswith("whsec_")
        row = WebhookEndpoint.objects.get(pk=body["id"])
        assert body["secret"] not in row.secret_encrypted
        assert crypto.decrypt(row.secret_encrypted) == body["secret"]
        listed = admin.get("/api/v1/webhooks/endpoints").json()["results"]
        assert [e["id"] for e in listed] == [body["id"]] and "secret" not in listed[0]
        with schema_context(org_a.slug):
            audit = AuditEvent.objects.get(action=AuditAction.WEBHOOK_CREATED)
        assert body["secret"] not in str(audit.changes)

    def test_rotating_the_secret_signs_with_the_new_one(self, org_a, receiver, client_for):
        endpoint = _endpoint(org_a, receiver)
        old = receiver.secret

        rotated = client_for(org_a, "admin").post(
            f"/api/v1/webhooks/endpoints/{endpoint.pk}/rotate-secret"
        )
        assert rotated.status_code == 200
        receiver.secret = rotated.json()["secret"]
        assert receiver.secret != old
        [delivery] = _event(org_a)
        services.delivery_attempt(delivery_id=delivery.pk)

        assert receiver.received[0].verified

    def test_bad_input_gets_field_errors_and_writes_nothing(self, org_a, client_for):
        admin = client_for(org_a, "admin")

        unknown = admin.post(
            "/api/v1/webhooks/endpoints",
            {"url": "https://hooks.example.invalid/", "event_types": ["document.eaten"]},
            format="json",
        )
        assert "event_types" in assert_error(unknown, 400)["fields"]
        for url in ("ftp://example.com/", "https://user:pw@example.com/", "not a url"):
            bad = admin.post(
                "/api/v1/webhooks/endpoints",
                {"url": url, "event_types": ["document.completed"]},
                format="json",
            )
            assert "url" in assert_error(bad, 400)["fields"], url
        assert not WebhookEndpoint.objects.filter(organization=org_a.organization).exists()

    def test_members_may_not_manage_webhooks(self, org_a, client_for):
        for role in ("member", "viewer"):
            response = client_for(org_a, role).get("/api/v1/webhooks/endpoints")
            assert response.status_code in (403, 404), (role, response.status_code)

    def test_another_organization_gets_404(self, org_a, org_b, receiver, client_for):
        endpoint = _endpoint(org_a, receiver)
        [delivery] = _event(org_a)
        other = client_for(org_b, "admin")

        for path in (
            f"/api/v1/webhooks/endpoints/{endpoint.pk}",
            f"/api/v1/webhooks/endpoints/{endpoint.pk}/deliveries",
            f"/api/v1/webhooks/deliveries/{delivery.pk}",
        ):
            assert_error(other.get(path), 404)
        assert_error(other.post(f"/api/v1/webhooks/deliveries/{delivery.pk}/redeliver"), 404)
        assert other.get("/api/v1/webhooks/endpoints").json()["results"] == []

    def test_the_delivery_log_is_filterable_and_shows_excerpts(self, org_a, receiver, client_for):
        receiver.responses = [200, 500]
        endpoint = _endpoint(org_a, receiver)
        for delivery in _event(org_a) + _event(org_a):
            services.delivery_attempt(delivery_id=delivery.pk)
        admin = client_for(org_a, "admin")

        log = admin.get(f"/api/v1/webhooks/endpoints/{endpoint.pk}/deliveries").json()
        retrying = admin.get(
            f"/api/v1/webhooks/endpoints/{endpoint.pk}/deliveries?status=retrying"
        ).json()

        assert log["count"] == 2 and retrying["count"] == 1
        detail = admin.get(f"/api/v1/webhooks/deliveries/{retrying['results'][0]['id']}").json()
        assert detail["response_status"] == 500
        assert "webhook-id" in detail["request_excerpt"]
        assert detail["payload"]["type"] == "document.completed"

    def test_the_event_catalogue_has_a_schema_for_every_event(self, org_a, client_for):
        types = client_for(org_a, "admin").get("/api/v1/webhooks/event-types").json()["results"]

        names = {t["type"] for t in types}
        assert {"document.completed", "chat.message.completed", "usage.quota_reached"} <= names
        assert all(t["schema"]["type"] == "object" and t["schema"].get("properties") for t in types)
        # every event the platform can emit is described with its payload
        assert names == set(events.CATALOGUE) | {"webhook.test"}

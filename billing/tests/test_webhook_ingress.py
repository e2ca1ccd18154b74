"""The webhook ingress in front of Django (billing/api/webhook.py, config/asgi.py): the
ASGI application is called as uvicorn calls it, stores deliveries with its own threads
and connections (committed rows), and a real Celery worker processes them."""

import asyncio
import json
import time
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from billing.api.webhook import PATH, StripeWebhookIngress
from billing.models import StripeEvent
from billing.tasks import stripe_events_requeue
from billing.tests.conftest import checkout
from billing.tests.stripe_api.server import event_signature
from billing.tests.test_stripe_worker import _wait_for, live  # noqa: F401 - the fixture
from billing.webhooks import events_requeue, events_store
from users.models import Organization


class Behind:
    """The application behind the ingress (Django in the server): records what reached it."""

    def __init__(self):
        self.paths = []

    async def __call__(self, scope, receive, send):
        self.paths.append((scope["method"], scope["path"]))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def request(app, *, body: bytes, headers: dict, method="POST", path=PATH, host="localhost"):
    """One HTTP request through the ASGI app: (status, JSON body or None)."""
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(b"host", host.encode())]
        + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    chunks = [body[:10], body[10:]]  # the body in two messages, as a server may send it
    sent = []

    async def receive():
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    status = sent[0]["status"]
    content = b"".join(m.get("body", b"") for m in sent[1:])
    return status, (json.loads(content) if content else None)


def call(app, **arguments):
    return asyncio.run(request(app, **arguments))


async def burst(app, deliveries: list[tuple[bytes, dict]]):
    return await asyncio.gather(*(request(app, body=b, headers=h) for b, h in deliveries))


def signed(event: dict, secret: str, timestamp: int | None = None) -> tuple[bytes, dict]:
    body = json.dumps(event).encode()
    return body, {"Stripe-Signature": event_signature(body, secret, timestamp)}


def test_the_ingress_stores_verified_deliveries_and_the_worker_applies_them(
    live,  # noqa: F811
    celery_worker,
    django_db_blocker,
    client_for,
):
    org, server = live
    behind = Behind()
    ingress = StripeWebhookIngress(behind)
    with django_db_blocker.unblock():
        session_id = checkout(client_for, org, server)
        events = server.checkout_complete(session_id)
        before = StripeEvent.objects.count()

        # a forged delivery: 400 in the one error format, nothing stored
        body, _ = signed(events[0], server.webhook_secret)
        status, answer = call(
            ingress,
            body=body,
            headers={"Stripe-Signature": event_signature(body, "whsec_someone_else")},
        )
        assert (status, answer["error"]["code"]) == (400, "invalid_signature")
        stale = signed(events[0], server.webhook_secret, int(time.time()) - 600)
        assert call(ingress, body=stale[0], headers=stale[1])[0] == 400
        assert StripeEvent.objects.count() == before

        # Stripe's deliveries: answered 200 at once, stored, then applied by the worker
        for event in events:
            body, headers = signed(event, server.webhook_secret)
            assert call(ingress, body=body, headers=headers) == (
                200,
                {"received": True, "duplicate": False},
            )
        ids = [e["id"] for e in events]
        assert StripeEvent.objects.filter(id__in=ids).count() == len(events)
        assert _wait_for(
            lambda: (
                StripeEvent.objects.filter(id__in=ids, processed_at__isnull=False).count()
                == len(ids)
            )
        )
        assert Organization.objects.get(pk=org.organization.pk).plan == "team"

        # a redelivery is a repeat: nothing new stored or applied
        processed = dict(StripeEvent.objects.filter(id__in=ids).values_list("id", "processed_at"))
        body, headers = signed(events[1], server.webhook_secret)
        assert call(ingress, body=body, headers=headers) == (
            200,
            {"received": True, "duplicate": True},
        )
        time.sleep(1)
        assert (
            dict(StripeEvent.objects.filter(id__in=ids).values_list("id", "processed_at"))
            == processed
        )

        # a burst, with one event delivered twice at once: written together, stored once
        sub_id = server.sessions[session_id]["subscription"]
        updates = [
            server.event("customer.subscription.updated", server.subscriptions[sub_id])
            for _ in range(20)
        ]
        deliveries = [signed(e, server.webhook_secret) for e in [*updates, updates[0]]]
        answers = asyncio.run(burst(ingress, deliveries))
        assert {status for status, _ in answers} == {200}
        assert sorted(answer["duplicate"] for _, answer in answers) == [False] * 20 + [True]
        update_ids = [e["id"] for e in updates]
        assert StripeEvent.objects.filter(id__in=update_ids).count() == 20
        assert _wait_for(
            lambda: StripeEvent.objects.filter(id__in=update_ids, processed_at=None).count() == 0
        )

        # an event stored whose queueing was lost (the process died after answering):
        # beat's sweep queues it again, and the worker applies it
        lost = server.event("customer.subscription.updated", server.subscriptions[sub_id])
        assert events_store([lost]) == ([True], [lost["id"]])  # stored, never queued
        assert events_requeue() == 0  # not before a minute has passed
        StripeEvent.objects.filter(id=lost["id"]).update(
            received_at=timezone.now() - timedelta(minutes=2)
        )
        assert stripe_events_requeue() == 1
        assert _wait_for(
            lambda: StripeEvent.objects.filter(id=lost["id"], processed_at__isnull=False).exists()
        )
        assert events_requeue() == 0

        # an oversized body is refused before it is read whole
        status, answer = call(
            ingress, body=b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1), headers={}
        )
        assert (status, answer["error"]["code"]) == (413, "payload_too_large")

    # the ingress answers only POSTs to its path on the public host: the rest goes on
    assert behind.paths == []
    call(ingress, body=b"", headers={}, method="GET")
    call(ingress, body=b"{}", headers={}, host=f"{org.slug}.localhost")
    call(ingress, body=b"{}", headers={}, path="/api/v1/chat")
    assert behind.paths == [("GET", PATH), ("POST", PATH), ("POST", "/api/v1/chat")]


def test_without_a_signing_secret_both_doors_answer_503(public_client, settings):
    """The Django view and the ingress give one answer (``webhook_answer``)."""
    settings.STRIPE_WEBHOOK_SECRET = ""
    body = b'{"id": "evt_1", "type": "invoice.paid"}'
    status, answer = call(StripeWebhookIngress(Behind()), body=body, headers={})
    assert (status, answer["error"]["code"]) == (503, "billing_not_configured")
    response = public_client.post(PATH, data=body, content_type="application/json")
    assert response.status_code == 503
    assert response.json() == answer

"""Stripe's webhook endpoint (public host). Not a DRF view: the signature covers the
raw body, and Stripe is the only caller (no session, no CSRF token).

Two doors, one answer (``webhook_answer``): the Django view (URL ``stripe-webhook``),
and ``StripeWebhookIngress``, the ASGI application in front of Django that serves the
same path in the web server (config/asgi.py). The ingress verifies the signature on the
event loop, stores the events waiting at that moment with one INSERT (a group commit,
on a pooled connection), answers, then queues them; processing is the Celery task's. Stripe delivers in bursts
(a plan change, a billing run) and wants a 2xx fast: through Django's synchronous
middleware chain (host lookup, sessions, CSRF, messages...) each delivery took a
thread, a database connection and a few hundred milliseconds on a busy machine, and
a burst of 100 queued behind one another for 16 s (docs/benchmarks.md, Billing).
"""

from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing.webhooks import (
    InvalidWebhook,
    event_queue,
    event_receive,
    event_verify,
    events_store,
)
from core.api.errors import error_body
from core.tenancy import public_hostnames

logger = logging.getLogger(__name__)

PATH = "/billing/stripe/webhook"


def webhook_answer(payload: bytes, signature: str) -> tuple[int, dict]:
    """(status, body) for one delivery: 200 stored (or a repeat), 400 a bad signature,
    503 when webhooks are not configured or the event could not be stored or queued
    (Stripe then delivers it again)."""
    if not settings.STRIPE_WEBHOOK_SECRET:
        return 503, error_body("billing_not_configured", "Stripe webhooks are not configured.")
    try:
        _event_id, created = event_receive(payload=payload, signature=signature)
    except InvalidWebhook as error:
        logger.warning("stripe webhook refused: %s", error)
        return 400, error_body("invalid_signature", "The Stripe signature does not verify.")
    return 200, {"received": True, "duplicate": not created}


@csrf_exempt
@require_POST
def stripe_webhook(request):
    status, body = webhook_answer(request.body, request.headers.get("Stripe-Signature", ""))
    return JsonResponse(body, status=status)


# -- the ingress in front of Django ------------------------------------------------------

# Events stored by one INSERT at most (a burst is written in a few statements).
MAX_BATCH = 200


def _store_batch(events: list[dict]) -> tuple[list[bool], list[str]]:
    connection.set_schema_to_public()  # StripeEvent is a public-schema table
    try:
        return events_store(events)
    finally:
        connection.close()  # back to the pool


def _queue(event_ids: list[str]) -> None:
    for event_id in event_ids:
        try:
            event_queue(event_id)
        except Exception:  # the broker away: events_requeue (beat) queues it later
            logger.warning("stripe event %s stored, not queued", event_id, exc_info=True)


class StripeWebhookIngress:
    """ASGI: ``POST /billing/stripe/webhook`` on the public host answered here, before
    Django; everything else goes on to ``app``.

    The signature is checked on the event loop (an HMAC and a JSON parse). Verified
    events wait for the one writer, which stores everything waiting in one INSERT ...
    ON CONFLICT DO NOTHING (a group commit: a burst of 100 is a few statements, not 100
    transactions), answers each delivery once its row is committed, and then queues the
    new events for Celery from a thread of its own. An event stored but not queued
    (the process died in between, the broker was away) is queued again by beat's
    ``billing.stripe_events_requeue``.
    """

    def __init__(self, app):
        self.app = app
        self._pending: list[tuple[dict, asyncio.Future]] = []
        self._writing = False
        self._writer: asyncio.Future | None = None
        self._db = ThreadPoolExecutor(1, thread_name_prefix="stripe-webhook-store")
        self._queuer = ThreadPoolExecutor(1, thread_name_prefix="stripe-webhook-queue")

    @staticmethod
    def _header(scope, wanted: bytes) -> str:
        for name, value in scope.get("headers") or ():
            if name == wanted:
                return value.decode("latin-1")
        return ""

    def _matches(self, scope) -> bool:
        if scope["type"] != "http" or scope.get("path") != PATH or scope.get("method") != "POST":
            return False
        host = self._header(scope, b"host").split(":")[0].lower().rstrip(".")
        return host in public_hostnames()

    async def __call__(self, scope, receive, send):
        if not self._matches(scope):
            return await self.app(scope, receive, send)
        payload, too_big = await self._read_body(receive, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        if payload is None:  # the caller left
            return
        if too_big:
            status, body = 413, error_body("payload_too_large", "The request body is too large.")
        else:
            status, body = await self._answer(payload, self._header(scope, b"stripe-signature"))
        await self._respond(send, status, body)

    async def _answer(self, payload: bytes, signature: str) -> tuple[int, dict]:
        if not settings.STRIPE_WEBHOOK_SECRET:
            return 503, error_body("billing_not_configured", "Stripe webhooks are not configured.")
        try:
            event = event_verify(payload=payload, signature=signature)
        except InvalidWebhook as error:
            logger.warning("stripe webhook refused: %s", error)
            return 400, error_body("invalid_signature", "The Stripe signature does not verify.")
        try:
            created = await self._store(event)
        except Exception:  # database away: Stripe retries what did not get a 2xx
            logger.exception("stripe webhook could not be stored")
            return 503, error_body("service_unavailable", "Try again later.")
        return 200, {"received": True, "duplicate": not created}

    async def _store(self, event: dict) -> bool:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((event, future))
        if not self._writing:
            self._writing = True
            self._writer = asyncio.ensure_future(self._write())  # kept: not collected
        return await future

    async def _write(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                try:
                    created, to_queue = await loop.run_in_executor(
                        self._db, _store_batch, [event for event, _ in batch]
                    )
                except Exception as error:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    continue
                for (_, future), new in zip(batch, created, strict=True):
                    if not future.done():
                        future.set_result(new)
                if to_queue:
                    self._queuer.submit(_queue, to_queue)
        finally:
            self._writing = False

    @staticmethod
    async def _read_body(receive, limit: int) -> tuple[bytes | None, bool]:
        parts, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None, False
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return b"", True
            parts.append(chunk)
            if not message.get("more_body"):
                return b"".join(parts), False

    @staticmethod
    async def _respond(send, status: int, body: dict) -> None:
        content = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(content)).encode()),
                    (b"x-content-type-options", b"nosniff"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": content})

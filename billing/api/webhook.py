"""Stripe's webhook endpoint (public host). Not a DRF view: the signature covers the
raw body, and Stripe is the only caller (no session, no CSRF token).

Two doors, one answer (``webhook_answer``): the Django view (URL ``stripe-webhook``),
and ``StripeWebhookIngress``, the ASGI application in front of Django that serves the
same path in the web server (config/asgi.py). The ingress verifies the signature on the
event loop, stores the event in a small thread pool of its own (one INSERT on a pooled
connection) and answers; processing is the Celery task's. Stripe delivers in bursts
(a plan change, a billing run) and wants a 2xx fast: through Django's synchronous
middleware chain (host lookup, sessions, CSRF, messages...) each delivery took a
thread, a database connection and a few hundred milliseconds on a busy machine, and
a burst of 100 queued behind one another for 16 s (docs/benchmarks.md, Billing).
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing.webhooks import InvalidWebhook, event_receive
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

# Threads that store deliveries (each holds a pooled connection only while it stores).
INGRESS_THREADS = 4


def _store(payload: bytes, signature: str) -> tuple[int, dict]:
    connection.set_schema_to_public()  # StripeEvent is a public-schema table
    try:
        return webhook_answer(payload, signature)
    except Exception:  # database or broker away: Stripe retries what did not get a 2xx
        logger.exception("stripe webhook could not be stored")
        return 503, error_body("service_unavailable", "Try again later.")
    finally:
        connection.close()  # back to the pool


class StripeWebhookIngress:
    """ASGI: ``POST /billing/stripe/webhook`` on the public host answered here, before
    Django; everything else goes on to ``app``."""

    def __init__(self, app, threads: int = INGRESS_THREADS):
        self.app = app
        self.threads = threads
        self._executor: ThreadPoolExecutor | None = None

    def _store_async(self):
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="stripe-webhook")
        return sync_to_async(_store, thread_sensitive=False, executor=self._executor)

    @staticmethod
    def _host(scope) -> str:
        for name, value in scope.get("headers") or ():
            if name == b"host":
                return value.decode("latin-1").split(":")[0].lower().rstrip(".")
        return ""

    def _matches(self, scope) -> bool:
        if scope["type"] != "http" or scope.get("path") != PATH or scope.get("method") != "POST":
            return False
        return self._host(scope) in public_hostnames()

    async def __call__(self, scope, receive, send):
        if not self._matches(scope):
            return await self.app(scope, receive, send)
        payload, too_big = await self._read_body(receive, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        if payload is None:  # the caller left
            return
        if too_big:
            status, body = 413, error_body("payload_too_large", "The request body is too large.")
        else:
            signature = ""
            for name, value in scope.get("headers") or ():
                if name == b"stripe-signature":
                    signature = value.decode("latin-1")
            status, body = await self._store_async()(payload, signature)
        await self._respond(send, status, body)

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

"""Platform events: what happened in an organization, for whoever acts on it.

Lower layers emit (knowledge ingestion, chat, billing); higher layers subscribe
(workflow triggers, outbound webhooks) from their ``AppConfig.ready``, so no app
imports the apps that react to it. An event is delivered to subscribers after the
emitting transaction commits (never for work that rolled back), in the
organization's schema. A subscriber should only enqueue work (a Celery task); one
that raises is logged and does not stop the others or the emitter.

A subscriber takes one event (``subscribe``), or the events of one commit together
(``subscribe_batches``): work that stores many of one kind at once (chat's answers that
ended together, chat/finishing.py) emits them with ``event_emit_many``, and a batch
subscriber then answers them with one query and one task where it can, not one each.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from core.tenancy import require_tenant_schema

logger = logging.getLogger(__name__)

# The catalogue: every event type and what it means. Payloads hold ids and small
# facts (JSON-serialisable), never secrets or whole documents.
CATALOGUE: dict[str, str] = {
    "document.completed": "A document finished ingestion (document_id, collection_id, title, chunks).",
    "document.failed": "A document's ingestion failed (document_id, collection_id, title, error).",
    "chat.message.completed": "An answer finished streaming (session_id, message_id, assistant_id, channel, tokens, cost).",
    "conversation.ended": "A conversation was ended, by a person or after the idle period (session_id).",
    "conversation.imported": "An import job finished (import_id, source, conversations, messages).",
    "conversation.analyzed": "A conversation's analysis was stored (session_id, analysis_id, version).",
    "workflow.run.finished": "A workflow run ended (workflow_id, run_id, status).",
    "usage.quota_reached": "A monthly quota refused work (quota, limit, used).",
    "file.processed": "An uploaded file was read: text, data summary or image size (file_id, name).",
}


@dataclass(frozen=True)
class Event:
    type: str
    schema_name: str
    payload: dict
    id: str = field(default_factory=lambda: f"evt_{uuid.uuid4().hex}")
    occurred_at: datetime = field(default_factory=timezone.now)


Subscriber = Callable[[Event], None]
BatchSubscriber = Callable[[list[Event]], None]
_subscribers: list[Subscriber] = []
_batch_subscribers: list[BatchSubscriber] = []


def subscribe(subscriber: Subscriber) -> Subscriber:
    """Register a subscriber (usable as a decorator); registering twice is harmless."""
    if subscriber not in _subscribers:
        _subscribers.append(subscriber)
    return subscriber


def subscribe_batches(subscriber: BatchSubscriber) -> BatchSubscriber:
    """Register a subscriber that takes the events of one commit (one organization's)
    as a list: one event from ``event_emit``, all of them from ``event_emit_many``."""
    if subscriber not in _batch_subscribers:
        _batch_subscribers.append(subscriber)
    return subscriber


def unsubscribe(subscriber: Subscriber | BatchSubscriber) -> None:
    for registered in (_subscribers, _batch_subscribers):
        if subscriber in registered:
            registered.remove(subscriber)


def event_emit(*, type: str, payload: dict, immediate: bool = False) -> Event:
    """Emit an event of the current organization; subscribers run after commit.

    ``immediate`` delivers at once instead: for an event about work that was refused
    (``usage.quota_reached``), whose transaction rolls back. Its subscribers must not
    rely on the caller's transaction (queuing a task is fine: the broker is not in it).
    """
    if type not in CATALOGUE:
        raise ValueError(f"Unknown event type {type!r}: add it to core.events.CATALOGUE.")
    event = Event(type=type, schema_name=require_tenant_schema(), payload=payload)
    if immediate:
        _deliver([event])
    else:
        transaction.on_commit(lambda: _deliver([event]))
    return event


def event_emit_many(*, type: str, payloads: list[dict]) -> list[Event]:
    """Emit one event per payload, delivered together after commit (one call of each
    batch subscriber)."""
    if type not in CATALOGUE:
        raise ValueError(f"Unknown event type {type!r}: add it to core.events.CATALOGUE.")
    schema_name = require_tenant_schema()
    emitted = [Event(type=type, schema_name=schema_name, payload=payload) for payload in payloads]
    if emitted:
        transaction.on_commit(lambda: _deliver(emitted))
    return emitted


def _deliver(emitted: list[Event]) -> None:
    with schema_context(emitted[0].schema_name):
        for subscriber in list(_subscribers):
            for event in emitted:
                _call(subscriber, event, event.type)
        for subscriber in list(_batch_subscribers):
            _call(subscriber, emitted, emitted[0].type)


def _call(subscriber, argument, type: str) -> None:
    try:
        subscriber(argument)
    except Exception:
        logger.exception(
            "Event subscriber %s failed on %s (%s)",
            getattr(subscriber, "__qualname__", subscriber),
            type,
            connection.schema_name,
        )

"""Answers never stay ``streaming``: the heartbeat of a live stream and the sweep of orphans.

While an answer streams, its row is updated every ``CHAT_STREAM_HEARTBEAT_SECONDS``
with the text so far (``updated_at`` moves with it): that is the lease of a live
stream. A web process stopped gracefully stores its open streams ``cancelled``
(chat/streaming.py); one that crashed leaves rows whose heartbeat stopped. The sweep
(at worker start-up and by beat) stores each such orphan ``interrupted`` with the
text it had, charges its estimated tokens once (a ledger row, as a cut-short stream
gets), and adds it to its session's totals, so a client reading the session sees a
final state and totals that add up.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from assistants import gateway
from assistants.catalog.models import AIModel
from assistants.providers.base import Usage
from assistants.providers.tokens import count_tokens
from chat.models import Message, MessageStatus
from core.tenancy import current_organization, require_tenant_schema

logger = logging.getLogger(__name__)

INTERRUPTED_ERROR = "The answer was interrupted (the server stopped while it was streaming)."


def answer_heartbeat(*, message_id, text: str) -> bool:
    """Store the text so far of a streaming answer and renew its lease; False when the
    answer is no longer streaming (the sweep already stored it)."""
    return bool(
        Message.objects.filter(pk=message_id, status=MessageStatus.STREAMING).update(
            content=text, updated_at=timezone.now()
        )
    )


def answers_heartbeat(*, texts: dict) -> int:
    """``answer_heartbeat`` for many answers of the current schema in one statement: every
    still-streaming answer in ``texts`` (id -> text so far) stores its text and renews its
    lease; returns how many did. The web process beats all its open streams this way
    (chat/heartbeats.py): one UPDATE per schema per interval, not one per stream."""
    require_tenant_schema()
    if not texts:
        return 0
    table = Message._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS m SET content = beat.content, updated_at = %s "  # noqa: S608
            "FROM unnest(%s::uuid[], %s::text[]) AS beat(id, content) "
            "WHERE m.id = beat.id AND m.status = %s",
            [timezone.now(), list(texts), list(texts.values()), MessageStatus.STREAMING],
        )
        return cursor.rowcount


def _model_of(message: Message) -> AIModel | None:
    model = AIModel.objects.filter(provider=message.provider, model_id=message.model).first()
    return model or message.session.assistant.model


def _interrupt(message: Message, organization) -> None:
    from chat.services import session_add_totals

    session = message.session
    usage = Usage.of(message.estimated_prompt_tokens, count_tokens(message.content), estimated=True)
    model = _model_of(message)
    cost = Decimal("0")
    if model is not None:
        outcome = gateway.StreamOutcome(model=model, usage=usage)
        context = gateway.UsageContext(
            organization=organization,
            user=session.created_by,
            assistant_id=session.assistant_id,
            channel=session.channel,
        )
        gateway.ai_record_stream_usage(outcome=outcome, context=context)
        cost = outcome.cost or Decimal("0")
    # The row already carries what the turn's query rewrite cost (in the ledger since);
    # the answer's estimated usage is added to it, once: the row leaves `streaming` here.
    message.prompt_tokens += usage.prompt_tokens
    message.completion_tokens += usage.completion_tokens
    message.total_tokens += usage.total_tokens
    message.cost += cost
    message.status = MessageStatus.INTERRUPTED
    message.error = INTERRUPTED_ERROR
    message.save()
    session_add_totals(
        session_id=session.pk, messages=1, tokens=message.total_tokens, cost=message.cost
    )


def answers_recover_interrupted() -> int:
    """Store this organization's orphaned streaming answers ``interrupted``; returns
    how many. Safe to run concurrently: each row is taken under a lock and changes
    state in the same transaction."""
    require_tenant_schema()
    organization = current_organization()
    cutoff = timezone.now() - timedelta(seconds=settings.CHAT_STREAM_ORPHAN_AFTER_SECONDS)
    recovered = 0
    while True:
        with transaction.atomic():
            # skip_locked: a stream finishing right now holds its row; it needs no sweep.
            batch = list(
                Message.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("session__assistant__model", "session__created_by")
                .filter(status=MessageStatus.STREAMING, updated_at__lt=cutoff)
                .order_by("updated_at")[:100]
            )
            for message in batch:
                _interrupt(message, organization)
                logger.warning(
                    "answer %s was orphaned while streaming; stored interrupted with %s characters",
                    message.pk,
                    len(message.content),
                )
            recovered += len(batch)
        if len(batch) < 100:
            return recovered


def answers_recover_interrupted_everywhere() -> int:
    """The sweep in every organization's schema (the beat task runs in public)."""
    from users.models import Organization

    total = 0
    for schema in Organization.objects.exclude(schema_name=settings.PUBLIC_SCHEMA_NAME).values_list(
        "schema_name", flat=True
    ):
        with schema_context(schema):
            total += answers_recover_interrupted()
    return total

"""Ending conversations (by their owner, or after the organization's idle period),
bookmarks and reactions on messages, the conversation settings, and the sweep."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from assistants.catalog.models import AIModel, Capability
from chat.conversations import indexing, queue
from chat.models import (
    ChatSession,
    ConversationSettings,
    ConversationSource,
    Message,
    MessageBookmark,
    MessageReaction,
)
from core import events
from core.errors import Conflict, NotFound
from core.lookups import parse_uuid, person
from core.tenancy import require_tenant_schema

logger = logging.getLogger(__name__)

MAX_ENDED_PER_SWEEP = 500


def _analyze_later(session_id) -> None:
    transaction.on_commit(lambda: queue.enqueue(queue.ANALYZE, str(session_id)))


def conversation_end(*, session: ChatSession, analyze: Callable | None = None) -> ChatSession:
    """End a conversation (idempotent: an ended one keeps its time) and analyse it."""
    with transaction.atomic():
        locked = ChatSession.objects.select_for_update().get(pk=session.pk)
        if locked.ended_at is None:
            locked.ended_at = timezone.now()
            locked.save(update_fields=["ended_at", "updated_at"])
            events.event_emit(type="conversation.ended", payload={"session_id": str(locked.pk)})
            (analyze or _analyze_later)(locked.pk)
    session.ended_at = locked.ended_at
    return session


def conversations_end_idle(*, analyze: Callable) -> int:
    """End this organization's conversations idle for longer than its idle period."""
    require_tenant_schema()
    idle = indexing.conversation_settings().idle_minutes
    if not idle:
        return 0
    cutoff = timezone.now() - timedelta(minutes=idle)
    ids = list(
        ChatSession.objects.filter(
            source=ConversationSource.PLATFORM, ended_at__isnull=True, last_message_at__lt=cutoff
        ).values_list("pk", flat=True)[:MAX_ENDED_PER_SWEEP]
    )
    for session_id in ids:
        with transaction.atomic():
            updated = ChatSession.objects.filter(pk=session_id, ended_at__isnull=True).update(
                ended_at=timezone.now()
            )
            if updated:
                events.event_emit(
                    type="conversation.ended", payload={"session_id": str(session_id)}
                )
                transaction.on_commit(lambda s=session_id: analyze(s))
    return len(ids)


def conversations_sweep_everywhere(
    *, index: Callable, analyze: Callable, resume_imports: Callable
) -> dict:
    from users.models import Organization

    totals = {"ended": 0, "imports_resumed": 0, "organizations_to_index": 0}
    schemas = Organization.objects.exclude(schema_name=settings.PUBLIC_SCHEMA_NAME).values_list(
        "schema_name", flat=True
    )
    for schema in schemas:
        with schema_context(schema):
            try:
                totals["ended"] += conversations_end_idle(analyze=analyze)
                totals["imports_resumed"] += resume_imports()
                if indexing.messages_pending_count():
                    index()
                    totals["organizations_to_index"] += 1
            except Exception:  # one organization's trouble must not stop the others
                logger.exception("conversation sweep failed in %s", schema)
    return totals


# -- bookmarks and reactions --------------------------------------------------------


def bookmark_set(*, message: Message, user, note: str = "") -> MessageBookmark:
    bookmark, _ = MessageBookmark.objects.update_or_create(
        message=message, user=person(user), defaults={"note": note}
    )
    return bookmark


def bookmark_delete(*, message: Message, user) -> None:
    MessageBookmark.objects.filter(message=message, user=person(user)).delete()


def reaction_add(*, message: Message, user, emoji: str) -> MessageReaction:
    try:
        with transaction.atomic():
            return MessageReaction.objects.create(message=message, user=person(user), emoji=emoji)
    except IntegrityError:
        raise Conflict("You already reacted with this emoji.") from None


def reaction_delete(*, message: Message, user, reaction_id) -> None:
    """Remove one of the person's own reactions ("not found" for anyone else's)."""
    deleted, _ = MessageReaction.objects.filter(
        message=message, user=person(user), id=parse_uuid(reaction_id)
    ).delete()
    if not deleted:
        raise NotFound("No such reaction of yours on this message.")


# -- settings ------------------------------------------------------------------------


def settings_update(*, embedding_model: AIModel | None = ..., **fields) -> ConversationSettings:
    """Change the conversation settings; a new embedding model re-indexes every message."""
    require_tenant_schema()
    with transaction.atomic():
        row = ConversationSettings.objects.select_for_update().first() or ConversationSettings()
        changed_model = False
        if embedding_model is not ...:
            if embedding_model is not None and (
                not embedding_model.can(Capability.EMBEDDINGS)
                or not embedding_model.embedding_dimensions
            ):
                raise ValidationError(
                    {"embedding_model": ["This model does not produce embeddings."]}
                )
            changed_model = row.embedding_model_id != getattr(embedding_model, "pk", None)
            row.embedding_model = embedding_model
        for name, value in fields.items():
            setattr(row, name, value)
        row.save()
        if changed_model:
            indexing.messages_reindex_for_model_change()

            transaction.on_commit(lambda: queue.enqueue(queue.INDEX))
    return row

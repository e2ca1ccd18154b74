"""Every message searchable: its vector (the organization's embedding model, the local
embedder by default) and its full-text vector, in one ``MessageSearchEntry``.

Messages are indexed in batches by a task, never in the request or the stream: after
an import, after each answer (``chat.message.completed``), and by the sweep for any
message no task reached. A batch is claimed with ``FOR UPDATE SKIP LOCKED``, so two
tasks never embed the same messages, and written with ``ON CONFLICT DO NOTHING``, so
a second delivery is harmless. Changing the organization's embedding model drops the
vectors of the old one, and the task embeds everything again.
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict

from django.conf import settings
from django.db import connection, transaction

from assistants import gateway
from assistants.catalog.models import AIModel
from billing.models import Channel
from chat.conversations.continuing import CONTINUED
from chat.models import ConversationSettings, Message, MessageSearchEntry, MessageStatus
from core.db.vectors import execute_with_vectors, vector_rows
from core.tenancy import require_tenant_schema
from files.models import File

logger = logging.getLogger(__name__)

TEXT_SEARCH_CONFIG = "english"
# tsvector values are limited to 1 MB: the start of a very long message is indexed.
MAX_KEYWORD_CHARS = 100_000
# How much of an attached file's text a message is found by (its name always).
ATTACHMENT_SEARCH_CHARS = 20_000
MAX_INDEX_DIMENSIONS = 2000
# Batches claimed together: the pipeline's depth, and the rows one transaction holds.
ROUND_BATCHES = 8  # pgvector's HNSW limit for ``vector``; above, halfvec


def conversation_settings() -> ConversationSettings:
    require_tenant_schema()
    row = ConversationSettings.objects.select_related("embedding_model", "analysis_model").first()
    return row or ConversationSettings()


def embedding_model() -> AIModel:
    chosen = conversation_settings().embedding_model
    if chosen is not None:
        return chosen
    provider, model_id = settings.CONVERSATIONS_EMBEDDING_MODEL.split("/", 1)
    return AIModel.objects.get(provider=provider, model_id=model_id)


def model_key(model: AIModel) -> str:
    return f"{model.provider}/{model.model_id}"


def vector_cast(dimensions: int) -> str:
    kind = "vector" if dimensions <= MAX_INDEX_DIMENSIONS else "halfvec"
    return f"{kind}({int(dimensions)})"


def ensure_message_vector_index(dimensions: int) -> None:
    """The partial HNSW index for ``dimensions`` (384 exists from the migration)."""
    cast = vector_cast(dimensions)
    ops = "vector_cosine_ops" if cast.startswith("vector") else "halfvec_cosine_ops"
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE INDEX IF NOT EXISTS message_embedding_hnsw_{int(dimensions)} "
            f"ON chat_messagesearchentry USING hnsw ((embedding::{cast}) {ops}) "
            f"WITH (m = 16, ef_construction = 64) WHERE embedding_dimensions = {int(dimensions)}"
        )


def _pending(count: int) -> list[Message]:
    # FOR NO KEY UPDATE: the rows are held against another indexer, but the entries'
    # foreign keys (FOR KEY SHARE) to them are not blocked.
    return list(
        Message.objects.select_for_update(skip_locked=True, no_key=True, of=("self",))
        .filter(search_pending=True, status=MessageStatus.COMPLETE, search_entry__isnull=True)
        .exclude(content="")
        .exclude(source_content_type=CONTINUED)
        .only("id", "content")
        .order_by("created_at", "id")[:count]
    )


def _attachments(messages: list[Message]) -> dict[object, list[File]]:
    """The files attached to ``messages``, in one query (a prefetch would clone a
    queryset per message: a quarter of a second per 1,000 imported messages)."""
    links = (
        Message.attachments.through.objects.filter(message_id__in=[m.pk for m in messages])
        .select_related("file")
        .only("message_id", "file__id", "file__name", "file__extracted_text", "file__created_at")
        .order_by("-file__created_at", "file__id")  # File's own ordering
    )
    files: dict[object, list[File]] = defaultdict(list)
    for link in links:
        files[link.message_id].append(link.file)
    return files


def searchable_text(message: Message, files: list[File] | None = None) -> str:
    """What a message is found by: its text, then the names of the files attached to it
    (``files``, else read from the message) and the start of what was read from them
    (a question asked about a file is found by the file's name and content too)."""
    parts = [message.content]
    for file in message.attachments.all() if files is None else files:
        # The name as written and as words ("q3-report.xlsx": "q3 report xlsx"), which
        # full-text search would otherwise keep as one file-name token.
        words = re.sub(r"[\W_]+", " ", file.name).strip()
        parts.append(f"Attached file: {file.name} ({words})")
        if file.extracted_text:
            parts.append(file.extracted_text[:ATTACHMENT_SEARCH_CHARS])
    return "\n\n".join(parts)


def vector_text(vector: list[float]) -> str:
    """pgvector's text form of a vector (a search's query vector): ``json.dumps`` prints
    the same shortest round-trip floats as ``str(list(v))`` at about half the cost.
    Entries are written in binary instead (``_write``)."""
    return json.dumps(vector, separators=(",", ":"))


def _write(
    messages: list[Message], vectors: list[list[float]], model: AIModel, texts: list[str]
) -> None:
    dimensions = model.embedding_dimensions
    ids = [m.pk for m in messages]
    # One statement: the entries written and the messages no longer pending. The
    # vectors go in pgvector's binary form (core.db.vectors), not printed as text.
    execute_with_vectors(
        "WITH done AS (UPDATE chat_message SET search_pending = false "
        "WHERE id = ANY(%s::uuid[])) "
        "INSERT INTO chat_messagesearchentry (message_id, session_id, role, created_at, "
        "embedding, embedding_dimensions, embedding_model, search_vector, indexed_at) "
        "SELECT m.id, m.session_id, m.role, m.created_at, v.embedding, %s, %s, "
        "to_tsvector(%s::regconfig, left(v.text, %s)), now() "
        "FROM unnest(%s::uuid[], %b::vector[], %s::text[]) AS v(id, embedding, text) "
        "JOIN chat_message m ON m.id = v.id "
        "ON CONFLICT (message_id) DO NOTHING",
        [
            ids,
            dimensions,
            model_key(model),
            TEXT_SEARCH_CONFIG,
            MAX_KEYWORD_CHARS,
            ids,
            vector_rows(vectors),
            texts,
        ],
    )


def messages_index_pending(*, organization, limit: int | None = None) -> int:
    """Index messages that have no entry yet, batch by batch; returns how many."""
    require_tenant_schema()
    model = embedding_model()
    if model.embedding_dimensions != 384:
        ensure_message_vector_index(model.embedding_dimensions)
    context = gateway.UsageContext(organization=organization, channel=Channel.SYSTEM)
    batch_size = settings.CONVERSATIONS_EMBED_BATCH_SIZE
    cut = settings.CONVERSATIONS_EMBED_MAX_CHARS
    done = 0
    while limit is None or done < limit:
        # A round of a few batches is claimed at once and stays locked while it is
        # embedded, so a concurrent run takes the next round instead of this one. The
        # embedding of each batch overlaps the writing of the one before.
        wanted = batch_size * ROUND_BATCHES
        with transaction.atomic():
            claimed = _pending(wanted if limit is None else min(wanted, limit - done))
            if not claimed:
                break
            attached = _attachments(claimed)
            texts = [searchable_text(m, attached.get(m.pk, [])) for m in claimed]
            starts = range(0, len(claimed), batch_size)
            results = gateway.ai_embed_batches(
                model=model,
                batches=[[t[:cut] for t in texts[i : i + batch_size]] for i in starts],
                context=context,
            )
            for start, result in zip(starts, results, strict=True):
                end = start + batch_size
                _write(claimed[start:end], result.vectors, model, texts[start:end])
        done += len(claimed)
    return done


def messages_reindex_for_model_change() -> int:
    """Drop the entries of any other embedding model (they are embedded again)."""
    key = model_key(embedding_model())
    stale = MessageSearchEntry.objects.exclude(embedding_model=key)
    with transaction.atomic():
        Message.objects.filter(id__in=stale.values("message_id")).update(search_pending=True)
        deleted, _ = stale.delete()
    return deleted


def messages_pending_count() -> int:
    return (
        Message.objects.filter(
            search_pending=True, status=MessageStatus.COMPLETE, search_entry__isnull=True
        )
        .exclude(content="")
        .exclude(source_content_type=CONTINUED)
        .count()
    )

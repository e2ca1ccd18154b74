"""Ask your history: a question answered from the person's past conversations.

Retrieval is the history search's hybrid ranking over messages (visibility as in
chat), plus the stored summaries (``ConversationAnalysis``) of the conversations the
best messages belong to. The excerpts are numbered sources of a chat request to the
chosen assistant's model, so the answer cites them as [n]; each excerpt names its
conversation, message, date and similarity. The call goes through the gateway like
any chat answer: quotas checked before, tokens and cost in the ledger after. With the
local extractive model (offline) the answer quotes the excerpts, and says so.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from decimal import Decimal

from asgiref.sync import sync_to_async

from assistants import gateway
from assistants.models import Assistant
from assistants.providers.base import ChatMessage, ChatRequest, Source, TextDelta
from assistants.providers.errors import ProviderError, as_domain_error
from chat.conversations import search
from chat.models import ConversationAnalysis, Message
from core.access import Caller
from core.lookups import person

MAX_EXCERPTS = 8
EXCERPT_CHARS = 1_200
SYSTEM = (
    "You answer questions about the user's own past conversations. Use only the numbered "
    "excerpts below; cite each fact with its number in brackets, like [2]. If the excerpts "
    "do not answer the question, say so.\n\nExcerpts:\n{excerpts}"
)


@dataclass
class AskPlan:
    question: str
    assistant: Assistant
    excerpts: list[dict]
    request: ChatRequest
    context: gateway.UsageContext
    started: float


def _exchange(hit: search.HistoryHit) -> str:
    """The hit with the other half of its exchange: a question found is sent with the
    answer it got, an answer with its question (a question alone answers nothing)."""
    half = EXCERPT_CHARS // 2
    if hit.role == "user" and hit.after and hit.after["role"] == "assistant":
        return f"{hit.content[:half]}\n{hit.after['content'][:half]}"
    if hit.role == "assistant" and hit.before and hit.before["role"] == "user":
        return f"{hit.before['content'][:half]}\n{hit.content[:half]}"
    return hit.content[:EXCERPT_CHARS]


def _exchange_ids(hit: search.HistoryHit) -> list[str]:
    """The messages an excerpt quotes (the hit and the other half of its exchange)."""
    ids = [hit.message_id]
    if hit.role == "user" and hit.after and hit.after["role"] == "assistant":
        ids.append(hit.after["message_id"])
    if hit.role == "assistant" and hit.before and hit.before["role"] == "user":
        ids.append(hit.before["message_id"])
    return ids


def cited_documents(hits: list[search.HistoryHit]) -> dict[str, list[dict]]:
    """Per hit, the knowledge documents its exchange's answer cited (the sources it
    marked as cited; all of its sources when it marked none), that still exist: each
    with its collection and the dashboard link to it. Two queries for all the hits."""
    from knowledge_base.models import Document

    wanted = {h.message_id: _exchange_ids(h) for h in hits}
    rows = dict(
        Message.objects.filter(
            id__in=[i for ids in wanted.values() for i in ids], role="assistant"
        ).values_list("id", "sources")
    )
    cited: dict[str, list[str]] = {}
    for hit_id, ids in wanted.items():
        documents: list[str] = []
        for message_id in ids:
            sources = [s for s in rows.get(_uuid(message_id)) or [] if s.get("document_id")]
            marked = [s for s in sources if s.get("cited")]
            for source in marked or sources:
                if str(source["document_id"]) not in documents:
                    documents.append(str(source["document_id"]))
        cited[hit_id] = documents
    existing = {
        str(d["id"]): d
        for d in Document.objects.filter(id__in={d for ds in cited.values() for d in ds}).values(
            "id", "title", "collection_id"
        )
    }
    return {
        hit_id: [
            {
                "document_id": document_id,
                "title": existing[document_id]["title"],
                "collection_id": str(existing[document_id]["collection_id"]),
                "link": f"/knowledge/{existing[document_id]['collection_id']}"
                f"#document-{document_id}",
            }
            for document_id in documents
            if document_id in existing
        ]
        for hit_id, documents in cited.items()
    }


def _uuid(value: str) -> uuid.UUID:
    return uuid.UUID(str(value))


def _excerpts(hits: list[search.HistoryHit], summaries: dict[str, str]) -> list[dict]:
    excerpts = []
    documents = cited_documents(hits[:MAX_EXCERPTS])
    for hit in hits[:MAX_EXCERPTS]:
        excerpts.append(
            {
                "index": len(excerpts) + 1,
                "kind": "message",
                "conversation_id": hit.session_id,
                "conversation_title": hit.session_title,
                "source": hit.source,
                "message_id": hit.message_id,
                "role": hit.role,
                "date": hit.created_at,
                "similarity": hit.similarity,
                "score": hit.score,
                "text": _exchange(hit),
                "documents": documents.get(hit.message_id, []),
            }
        )
    for session_id, summary in summaries.items():
        title = next((h.session_title for h in hits if h.session_id == session_id), "")
        excerpts.append(
            {
                "index": len(excerpts) + 1,
                "kind": "summary",
                "conversation_id": session_id,
                "conversation_title": title,
                "source": next((h.source for h in hits if h.session_id == session_id), ""),
                "message_id": None,
                "role": "summary",
                "date": next((h.created_at for h in hits if h.session_id == session_id), None),
                "similarity": None,
                "score": None,
                "text": summary[:EXCERPT_CHARS],
                "documents": [],
            }
        )
    return excerpts


def _summaries(hits: list[search.HistoryHit], limit: int = 3) -> dict[str, str]:
    sessions = list(dict.fromkeys(h.session_id for h in hits))[:limit]
    latest: dict[str, str] = {}
    rows = (
        ConversationAnalysis.objects.filter(session_id__in=sessions)
        .exclude(summary="")
        .order_by("session_id", "-version")
        .distinct("session_id")
        .values_list("session_id", "summary")
    )
    for session_id, summary in rows:
        latest[str(session_id)] = summary
    return {s: latest[s] for s in sessions if s in latest}


def ask_prepare(
    *,
    caller: Caller,
    organization,
    question: str,
    assistant: Assistant,
    channel: str,
    query_filters: dict,
) -> AskPlan:
    """Retrieve the excerpts and build the request (nothing is charged but the query's
    embedding, as for any search)."""
    started = time.perf_counter()
    query = search.HistoryQuery(
        query=question, mode="hybrid", page_size=MAX_EXCERPTS, **query_filters
    )
    hits = search.ranked(
        caller=caller, query=query, organization=organization, limit=MAX_EXCERPTS, channel=channel
    )
    hits = search.add_details(hits, question)
    excerpts = _excerpts(hits, _summaries(hits))
    numbered = "\n\n".join(
        f"[{e['index']}] {e['conversation_title'] or 'Conversation'} "
        f"({e['date']:%Y-%m-%d} {e['role']}): {e['text']}"
        if e["date"]
        else f"[{e['index']}] {e['conversation_title']}: {e['text']}"
        for e in excerpts
    )
    request = ChatRequest(
        model=assistant.model.model_id,
        system=SYSTEM.format(excerpts=numbered or "(none)"),
        messages=[ChatMessage("user", question)],
        temperature=float(assistant.temperature) if assistant.temperature is not None else None,
        sources=[
            Source(
                index=e["index"], title=e["conversation_title"] or "Conversation", text=e["text"]
            )
            for e in excerpts
        ],
    )
    context = gateway.UsageContext(
        organization=organization,
        user=person(caller.user) or caller.user,
        assistant_id=assistant.pk,
        channel=channel,
    )
    return AskPlan(question, assistant, excerpts, request, context, started)


def _cited(text: str, excerpts: list[dict]) -> list[dict]:
    return [dict(e, cited=f"[{e['index']}]" in text) for e in excerpts]


def ask_complete(plan: AskPlan) -> dict:
    try:
        priced = gateway.ai_chat_complete(
            model=plan.assistant.model,
            request=plan.request,
            context=plan.context,
            fallback=plan.assistant.fallback_model,
        )
    except ProviderError as error:
        raise as_domain_error(error) from error
    usage = priced.result.usage
    return {
        "answer": priced.result.text,
        "excerpts": _cited(priced.result.text, plan.excerpts),
        "model": priced.model.key,
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
            "cost": str(priced.cost),
            "latency_ms": int((time.perf_counter() - plan.started) * 1000),
        },
    }


async def ask_events(
    plan: AskPlan, stream_plan: gateway.StreamPlan
) -> AsyncIterator[tuple[str, dict]]:
    """(event, data) pairs: ``excerpts`` first, then ``delta``s, ``usage``, ``done``;
    or ``error``. The ledger row is written however the stream ends."""
    yield "excerpts", {"excerpts": plan.excerpts}
    outcome = gateway.StreamOutcome(model=stream_plan.model)
    parts: list[str] = []
    record = sync_to_async(gateway.ai_record_stream_usage, thread_sensitive=True)
    try:
        async with aclosing(gateway.ai_chat_astream(plan=stream_plan, outcome=outcome)) as events:
            async for event in events:
                if isinstance(event, TextDelta) and event.text:
                    parts.append(event.text)
                    yield "delta", {"text": event.text}
    except ProviderError as error:
        failure = as_domain_error(error)
        await record(outcome=outcome, context=plan.context)
        yield "error", {"code": failure.code, "message": failure.message}
        return
    finally:
        if outcome.usage_record is None and outcome.usage is not None:
            await record(outcome=outcome, context=plan.context)
    text = "".join(parts)
    usage = outcome.usage
    yield (
        "usage",
        {
            "prompt_tokens": usage.prompt_tokens if usage else 0,
            "completion_tokens": usage.completion_tokens if usage else 0,
            "total_tokens": usage.total_tokens if usage else 0,
            "cost": str(outcome.cost or Decimal("0")),
            "model": outcome.model.key,
            "latency_ms": int((time.perf_counter() - plan.started) * 1000),
        },
    )
    yield "done", {"answer": text, "excerpts": _cited(text, plan.excerpts)}


def ask_stream_plan(plan: AskPlan) -> gateway.StreamPlan:
    try:
        return gateway.ai_stream_plan(
            model=plan.assistant.model,
            request=plan.request,
            context=plan.context,
            fallback=plan.assistant.fallback_model,
        )
    except ProviderError as error:
        raise as_domain_error(error) from error

"""Writes of the chat: preparing a turn, finishing it, and session housekeeping.

A turn is prepared (validation, session, history, retrieval, rows) before any
provider call and finished (answer, usage, cost, totals) after it, each in its
own transaction; between the two the stream holds no database connection.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from assistants import gateway
from assistants import selectors as assistant_selectors
from assistants.models import Assistant
from assistants.providers.base import ChatMessage, ChatRequest, Usage
from assistants.providers.errors import ProviderError
from assistants.providers.tokens import count_tokens
from billing import quotas
from chat import access, conversation
from chat.models import ChatSession, Message, MessageStatus, Role
from core.access import Caller
from core.tenancy import require_tenant_schema
from knowledge_base import retrieval

logger = logging.getLogger(__name__)


@dataclass
class Turn:
    """One question and the answer being produced for it."""

    organization: object
    user: object | None
    channel: str
    assistant: Assistant
    session: ChatSession
    user_message: Message
    assistant_message: Message
    request: ChatRequest
    plan: gateway.StreamPlan
    sources: list[conversation.RetrievedSource]
    started: float = field(default_factory=time.perf_counter)
    outcome: gateway.StreamOutcome | None = None
    # The query rewrite this turn needed (already in the ledger): its tokens and
    # cost count towards the answer, so messages add up to the ledger.
    rewrite: gateway.PricedResult | None = None

    def __post_init__(self):
        if self.outcome is None:
            self.outcome = gateway.StreamOutcome(model=self.plan.model)


def _field_error(name: str, message: str) -> ValidationError:
    return ValidationError({name: [message]})


def _check_message(message: str) -> str:
    message = (message or "").strip()
    if not message:
        raise _field_error("message", "The message is empty.")
    if len(message) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise _field_error(
            "message", f"Keep messages under {settings.CHAT_MAX_MESSAGE_CHARS} characters."
        )
    return message


def _active_assistant(assistant_id, only_ids: list | None = None) -> Assistant:
    try:
        # ``only_ids``: an API key restricted to some assistants sees no others.
        assistant = assistant_selectors.assistant_get(assistant_id=assistant_id, only_ids=only_ids)
    except ObjectDoesNotExist:
        raise _field_error("assistant", "Unknown assistant.") from None
    if not assistant.is_active:
        raise _field_error("assistant", "This assistant is inactive.")
    return assistant


def _history(session: ChatSession, before: Message | None) -> list[conversation.HistoryTurn]:
    messages = session.messages.filter(
        status=MessageStatus.COMPLETE, role__in=[Role.USER, Role.ASSISTANT]
    ).order_by("created_at", "id")
    if before is not None:
        messages = messages.filter(created_at__lt=before.created_at)
    # Only the latest answer to each question belongs in the history.
    superseded = set(
        Message.objects.filter(session=session, parent__isnull=False).values_list(
            "parent_id", flat=True
        )
    )
    return [conversation.HistoryTurn(m.role, m.content) for m in messages if m.id not in superseded]


def retrieval_query_for(
    *, assistant: Assistant, message: str, history, organization, user, channel
) -> tuple[str, gateway.PricedResult | None]:
    """A standalone query for follow-ups: the assistant's model rewrites it, or,
    offline (extractive responder) or when that fails, the rule-based rewrite."""
    previous = [t.content for t in history if t.role == Role.USER]
    if not previous or not conversation.is_follow_up(message):
        return message, None
    if assistant.model.is_extractive:
        return conversation.rule_based_query(message, previous), None
    transcript = "\n".join(f"{t.role}: {t.content[:500]}" for t in history[-6:])
    request = ChatRequest(
        model=assistant.model.model_id,
        system=conversation.REWRITE_INSTRUCTIONS,
        messages=[ChatMessage("user", f"{transcript}\nuser: {message}")],
        temperature=0.0,
        max_tokens=60,
    )
    context = gateway.UsageContext(
        organization=organization, user=user, assistant_id=assistant.id, channel=channel
    )
    try:
        priced = gateway.ai_chat_complete(model=assistant.model, request=request, context=context)
    except ProviderError:
        logger.warning("query rewrite failed; using the rule-based rewrite", exc_info=True)
        return conversation.rule_based_query(message, previous), None
    rewritten = priced.result.text.strip().strip('"')
    return rewritten or conversation.rule_based_query(message, previous), priced


def _collections(assistant: Assistant, session: ChatSession | None) -> list:
    """The session's narrowed collections, else all of the assistant's."""
    if session is not None:
        narrowed = list(session.collections.all())
        if narrowed:
            return narrowed
    return list(assistant.collections.all())


def _retrieve(assistant: Assistant, collections: list, query: str, top_k: int, organization, user):
    if not collections:
        return []
    params = retrieval.SearchParams(
        query=query, collections=collections, mode=retrieval.SearchMode(assistant.retrieval_mode),
        top_k=top_k, min_score=float(assistant.retrieval_min_score),
    )  # fmt: skip
    hits = retrieval.search(params, organization=organization, user=user)
    return [
        conversation.RetrievedSource(
            index=number,
            chunk_id=hit.chunk_id,
            document_id=hit.document_id,
            document_title=hit.document_title,
            page=hit.page,
            section=hit.section,
            score=hit.score,
            text=hit.text,
        )
        for number, hit in enumerate(hits, start=1)
    ]


def _source_rows(sources, cited: list[int] | None = None) -> list[dict]:
    cited = cited or []
    return [
        {
            "index": s.index,
            "chunk_id": s.chunk_id,
            "document_id": s.document_id,
            "document_title": s.document_title,
            "page": s.page,
            "section": s.section,
            "score": round(s.score, 6),
            "cited": s.index in cited,
        }
        for s in sources
    ]


def chat_prepare(
    *, organization, assistant_id, message: str | None, user=None, session_id=None, top_k: int | None = None,
    channel: str = "web", caller: Caller, existing_user_message: Message | None = None,
    regenerates: Message | None = None,
) -> Turn:  # fmt: skip
    """Validate, check quotas, load or create the session, retrieve, and store the
    question and a placeholder answer (status ``streaming``). Bad input or a quota
    reached raises before anything is stored or any provider is called.
    ``caller``: whose sessions and assistants may be used (chat.access); a session
    created here belongs to the caller (its person, or its API key)."""
    require_tenant_schema()
    started = time.perf_counter()
    text = existing_user_message.content if existing_user_message else _check_message(message)
    assistant = _active_assistant(str(assistant_id), caller.allowed_assistant_ids)
    if top_k is not None and not 1 <= top_k <= 20:
        raise _field_error("top_k", "Use 1 to 20.")
    session = None
    if session_id is not None:
        session = access.access_session(caller=caller, session_id=session_id)
        if session.assistant_id != assistant.id:
            raise _field_error("session", "This session belongs to another assistant.")
    if existing_user_message is None:
        quotas.quota_check_messages(organization)
    # The AI quotas are checked by the gateway before each provider call (rewrite,
    # embedding, answer), all of which come before anything is stored.

    history = _history(session, existing_user_message) if session else []
    query, rewrite = retrieval_query_for(assistant=assistant, message=text, history=history,
                                organization=organization, user=user, channel=channel)  # fmt: skip
    sources = _retrieve(assistant, _collections(assistant, session), query,
                        top_k or assistant.retrieval_top_k, organization, user)  # fmt: skip
    system = conversation.system_prompt(assistant.system_instructions, sources)
    model = assistant.model
    budget = (
        (model.context_window or 8000)
        - assistant.max_output_tokens
        - count_tokens(system)
        - count_tokens(text)
    )
    messages = [
        *conversation.history_within_budget(history, max(budget, 0)),
        ChatMessage("user", text),
    ]
    request = ChatRequest(
        model=model.model_id, messages=messages, system=system, temperature=float(assistant.temperature),
        top_p=float(assistant.top_p), max_tokens=assistant.max_output_tokens,
        sources=[s.as_provider_source() for s in sources],
    )  # fmt: skip
    context = gateway.UsageContext(
        organization=organization, user=user, assistant_id=assistant.id, channel=channel
    )
    plan = gateway.ai_stream_plan(
        model=model, request=request, context=context, fallback=assistant.fallback_model
    )

    with transaction.atomic():
        if existing_user_message is None:
            # Again under the organization's lock: exact when a burst races for the last one.
            quotas.quota_check_messages(organization, lock=True)
        if session is None:
            session = ChatSession.objects.create(
                assistant=assistant, created_by=user if getattr(user, "pk", None) else None, channel=channel,
                api_key_id=caller.api_key.pk if caller.api_key else None,
                title=conversation.title_from_message(text),
            )  # fmt: skip
        if existing_user_message is None:
            user_message = Message.objects.create(session=session, role=Role.USER, content=text)
            session_add_totals(session_id=session.pk, messages=1)
        else:
            user_message = existing_user_message
        answer = Message.objects.create(
            session=session, role=Role.ASSISTANT, status=MessageStatus.STREAMING, reply_to=user_message,
            parent=regenerates, provider=model.provider, model=model.model_id, retrieval_query=query,
            sources=_source_rows(sources),
        )  # fmt: skip
    turn = Turn(
        organization,
        user,
        channel,
        assistant,
        session,
        user_message,
        answer,
        request,
        plan,
        sources,
    )
    turn.started = started
    turn.rewrite = rewrite
    return turn


def _estimated_usage(turn: Turn, text: str) -> Usage:
    prompt = (turn.request.system or "") + "\n".join(m.content for m in turn.request.messages)
    return Usage.of(count_tokens(prompt), count_tokens(text), estimated=True)


def chat_finish(
    *, turn: Turn, text: str, status: str, error: str = "", ttft_ms: int | None = None
) -> Message:
    """Store the answer with its usage, cost, latency and cited sources, and add it
    to the session's totals atomically."""
    outcome = turn.outcome
    if outcome.usage is None and (text or status == MessageStatus.CANCELLED):
        # The stream ended before the provider reported usage (cut short, or a
        # provider that reports none): count the tokens ourselves.
        outcome.usage = _estimated_usage(turn, text)
    context = gateway.UsageContext(organization=turn.organization, user=turn.user,
                                   assistant_id=turn.assistant.id, channel=turn.channel)  # fmt: skip
    with transaction.atomic():
        gateway.ai_record_stream_usage(outcome=outcome, context=context)
        usage = outcome.usage or Usage.of(0, 0)
        cited = conversation.cited_indexes(text, len(turn.sources))
        message = turn.assistant_message
        message.content = text
        message.status = status
        message.error = error[:500]
        message.provider, message.model = outcome.model.provider, outcome.model.model_id
        # A message's tokens and cost include the query rewrite it needed, so the
        # messages of a session add up to its ledger rows.
        extra = turn.rewrite.result.usage if turn.rewrite else Usage.of(0, 0)
        message.prompt_tokens = usage.prompt_tokens + extra.prompt_tokens
        message.completion_tokens = usage.completion_tokens + extra.completion_tokens
        message.total_tokens = usage.total_tokens + extra.total_tokens
        message.cost = (outcome.cost or Decimal("0")) + (turn.rewrite.cost if turn.rewrite else 0)
        message.time_to_first_token_ms = ttft_ms
        message.latency_ms = int((time.perf_counter() - turn.started) * 1000)
        message.sources = _source_rows(turn.sources, cited)
        message.save()
        session_add_totals(
            session_id=turn.session.pk, messages=1, tokens=message.total_tokens, cost=message.cost
        )
    return message


def session_add_totals(
    *, session_id, messages: int, tokens: int = 0, cost: Decimal = Decimal("0")
) -> None:
    """Add to a session's totals in one UPDATE with F() expressions: the database
    applies concurrent additions one after another, so none is lost."""
    ChatSession.objects.filter(pk=session_id).update(
        message_count=F("message_count") + messages, total_tokens=F("total_tokens") + tokens,
        total_cost=F("total_cost") + cost, last_message_at=timezone.now(),
    )  # fmt: skip


# -- sessions and messages ------------------------------------------------------


def session_update(*, session: ChatSession, **fields) -> ChatSession:
    allowed = {"title", "description", "tags", "is_archived", "is_shared"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError({name: ["This field cannot be changed."] for name in unknown})
    for name, value in fields.items():
        setattr(session, name, value)
    session.save(update_fields=[*fields, "updated_at"])
    return session


def session_delete(*, session: ChatSession) -> None:
    session.delete()


def message_feedback(*, message: Message, rating: int | None, comment: str = "") -> Message:
    if message.role != Role.ASSISTANT:
        raise _field_error("message", "Only answers can be rated.")
    message.feedback_rating = rating
    message.feedback_comment = comment
    message.save(update_fields=["feedback_rating", "feedback_comment"])
    return message


def message_edit(*, message: Message, content: str) -> Message:
    """Change a question, keeping its first wording; the caller answers it again."""
    if message.role != Role.USER:
        raise _field_error("message", "Only your own questions can be edited.")
    content = _check_message(content)
    if not message.is_edited:
        message.original_content = message.content
    message.content = content
    message.is_edited = True
    message.edited_at = timezone.now()
    message.save(update_fields=["content", "original_content", "is_edited", "edited_at"])
    return message


def latest_answer(*, user_message: Message) -> Message | None:
    return user_message.replies.order_by("-created_at").first()

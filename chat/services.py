"""Writes of the chat: preparing a turn, finishing it, and session housekeeping.

A turn is prepared (``chat/turn.py``: inputs, context, rows) before any provider
call and finished (answer, usage, cost, totals) after it, each in its own
transaction; between the two the stream holds no database connection.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from assistants import gateway
from assistants.providers.base import Usage
from assistants.providers.tokens import count_tokens
from chat import conversation
from chat import turn as turn_module
from chat.models import ChatSession, Message, MessageStatus, Role
from chat.turn import session_add_totals, sessions_add_totals
from core import events
from core.access import Caller
from core.tenancy import require_tenant_schema
from prompts import services as prompt_services
from prompts.models import PromptVersion, UseSource

Turn = turn_module.TurnPlan  # the name callers knew; the plan is immutable


def chat_prepare(**arguments) -> turn_module.TurnPlan:
    """Validate, check quotas, load or create the session, retrieve, and store the
    question and a placeholder answer (status ``streaming``). Bad input or a quota
    reached raises before anything is stored or any provider is called.
    ``caller``: whose sessions and assistants may be used (chat.access). The steps
    are in ``chat/turn.py``."""
    return turn_module.prepare_turn(**arguments)


def _estimated_usage(plan: turn_module.TurnPlan, text: str) -> Usage:
    # The prompt's estimate as the placeholder stored it (counted once, while preparing).
    return Usage.of(
        plan.assistant_message.estimated_prompt_tokens, count_tokens(text), estimated=True
    )


@dataclasses.dataclass(frozen=True)
class AnswerEnd:
    """How one answer's stream ended, to be stored by ``chat_finish_many``. ``outcome``:
    what the stream learnt (model, usage, cost); none when the stream never started."""

    turn: turn_module.TurnPlan
    text: str
    status: str
    error: str = ""
    ttft_ms: int | None = None
    outcome: gateway.StreamOutcome | None = None
    # When the stream ended (perf_counter): the answer's latency ends here, not when a
    # batch stored it. Read when called (a test's frozen clock patches the module's).
    ended: float = dataclasses.field(default_factory=lambda: time.perf_counter())


def chat_finish(
    *,
    turn: turn_module.TurnPlan,
    text: str,
    status: str,
    error: str = "",
    ttft_ms: int | None = None,
    outcome: gateway.StreamOutcome | None = None,
) -> Message:
    """Store the answer with its usage, cost, latency and cited sources, and add it
    to the session's totals atomically (``chat_finish_many`` of one answer)."""
    end = AnswerEnd(
        turn=turn, text=text, status=status, error=error, ttft_ms=ttft_ms, outcome=outcome
    )
    return chat_finish_many(ends=[end])[0]


def chat_finish_many(*, ends: list[AnswerEnd]) -> list[Message]:
    """Store answers of the current organization whose streams ended, together, in one
    transaction of four statements whatever their number: their rows locked (only those
    still ``streaming``), the answers (one UPDATE), their sessions' totals (one UPDATE),
    their ledger rows (one INSERT, then one Redis round trip for the tokens per minute);
    then one ``chat.message.completed`` per complete answer, delivered together after the
    commit. Returns the stored rows in the order of
    ``ends``. An answer the recovery sweep already stored ``interrupted`` (its heartbeat
    had stopped) is returned as the sweep stored it, untouched and not counted again; so
    is a second end of the same answer. All or nothing: on an error nothing is stored,
    and the caller may store the answers again (chat/finishing.py does, one at a time)."""
    require_tenant_schema()
    ids = {end.turn.assistant_message.pk for end in ends}
    with transaction.atomic():
        # Locked in one order (no deadlock with another batch), and only if still
        # streaming: a row the sweep holds is waited for, then found interrupted.
        live = set(
            Message.objects.select_for_update()
            .filter(pk__in=ids, status=MessageStatus.STREAMING)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        taken: dict = {}  # answer id -> its end (the first one, if it came twice)
        for end in ends:
            pk = end.turn.assistant_message.pk
            if pk in live and pk not in taken:
                taken[pk] = end
        outcomes = {pk: _usage_known(end) for pk, end in taken.items()}
        ledger = gateway.ai_stream_usage_rows(
            finished=[(outcomes[pk], end.turn.usage_context()) for pk, end in taken.items()]
        )
        stored = {pk: _answer(end, outcomes[pk]) for pk, end in taken.items()}
        _answers_store(list(stored.values()))
        totals: dict = {}
        for message in stored.values():
            messages, tokens, cost = totals.get(message.session_id, (0, 0, Decimal("0")))
            totals[message.session_id] = (
                messages + 1,
                tokens + message.total_tokens,
                cost + message.cost,
            )
        sessions_add_totals(totals=totals)
        for pk, message in stored.items():
            _template_use_record(taken[pk].turn, message)
        events.event_emit_many(
            type="chat.message.completed",
            payloads=[
                _completed_payload(taken[pk].turn, message)
                for pk, message in stored.items()
                if message.status == MessageStatus.COMPLETE
            ],
        )
        gateway.ai_usage_rows_store(rows=ledger)
    missing = ids - set(stored)
    if missing:
        # Already stored by someone else (the sweep): as they stored it.
        stored.update(Message.objects.in_bulk(list(missing)))
    return [stored.get(end.turn.assistant_message.pk, end.turn.assistant_message) for end in ends]


def _usage_known(end: AnswerEnd) -> gateway.StreamOutcome:
    outcome = end.outcome or end.turn.new_outcome()
    if outcome.usage is None and (end.text or end.status == MessageStatus.CANCELLED):
        # The stream ended before the provider reported usage (cut short, or a
        # provider that reports none): count the tokens ourselves.
        outcome.usage = _estimated_usage(end.turn, end.text)
    return outcome


def _answer(end: AnswerEnd, outcome: gateway.StreamOutcome) -> Message:
    """The answer's row as it is stored: a copy of the placeholder (the plan keeps the
    placeholder as it was stored), with the answer, its usage and its cost."""
    plan = end.turn
    usage = outcome.usage or Usage.of(0, 0)
    cited = conversation.cited_indexes(end.text, len(plan.sources))
    message = copy.copy(plan.assistant_message)
    message.content = end.text
    message.status = end.status
    message.error = end.error[:500]
    message.provider, message.model = outcome.model.provider, outcome.model.model_id
    # A message's tokens and cost include the query rewrite it needed, so the
    # messages of a session add up to its ledger rows.
    extra = plan.rewrite.result.usage if plan.rewrite else Usage.of(0, 0)
    message.prompt_tokens = usage.prompt_tokens + extra.prompt_tokens
    message.completion_tokens = usage.completion_tokens + extra.completion_tokens
    message.total_tokens = usage.total_tokens + extra.total_tokens
    message.cost = (outcome.cost or Decimal("0")) + (plan.rewrite.cost if plan.rewrite else 0)
    message.time_to_first_token_ms = end.ttft_ms
    message.latency_ms = int((end.ended - plan.started) * 1000)
    message.sources = turn_module.source_rows(plan.sources, cited)
    message.updated_at = timezone.now()
    return message


# The columns an answer's end changes, written for many answers in one statement.
_ANSWER_COLUMNS = (
    ("content", "text"),
    ("status", "text"),
    ("error", "text"),
    ("provider", "text"),
    ("model", "text"),
    ("prompt_tokens", "integer"),
    ("completion_tokens", "integer"),
    ("total_tokens", "integer"),
    ("cost", "numeric"),
    ("time_to_first_token_ms", "integer"),
    ("latency_ms", "integer"),
    ("sources", "jsonb"),
    ("updated_at", "timestamptz"),
)


def _answers_store(messages: list[Message]) -> None:
    """``UPDATE chat_message ... FROM unnest(...)``: every answer of the batch in one
    statement (Django's ``bulk_update`` would build a CASE per column and row)."""
    if not messages:
        return
    names = ", ".join(name for name, _ in _ANSWER_COLUMNS)
    # jsonb travels as text (an array of jsonb would need each value adapted).
    assignments = ", ".join(
        f"{name} = answer.{name}" + ("::jsonb" if kind == "jsonb" else "")
        for name, kind in _ANSWER_COLUMNS
    )
    arrays = ", ".join(
        f"%s::{'text' if kind == 'jsonb' else kind}[]" for _, kind in _ANSWER_COLUMNS
    )
    values = [[m.pk for m in messages]]
    for name, kind in _ANSWER_COLUMNS:
        column = [getattr(m, name) for m in messages]
        values.append([json.dumps(v) for v in column] if kind == "jsonb" else column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Message._meta.db_table} AS m SET {assignments} "  # noqa: S608
            f"FROM unnest(%s::uuid[], {arrays}) AS answer(id, {names}) "
            "WHERE m.id = answer.id",
            values,
        )


def _completed_payload(plan: turn_module.TurnPlan, message: Message) -> dict:
    return {
        "session_id": str(plan.session.pk),
        "message_id": str(message.pk),
        "assistant_id": str(plan.session.assistant_id),
        "channel": plan.session.channel,
        "tokens": message.total_tokens,
        "cost": str(message.cost),
    }


def _template_use_record(plan: turn_module.TurnPlan, message: Message) -> None:
    """What a prompt template produced, counted in the answer's own transaction (so
    once), with the answer's tokens and cost (the message's, which equal its ledger
    rows): a question written from a template in the composer's picker is a use of
    that version, and so is each answer of an assistant whose instructions come from
    a pinned version."""
    if not (message.total_tokens or message.content):
        return
    uses = (
        (plan.prompt_version_id, UseSource.CHAT),
        (plan.assistant.instructions_version_id, UseSource.ASSISTANT),
    )
    for version_id, source in uses:
        if version_id is not None:
            prompt_services.use_record(
                version=PromptVersion(pk=version_id),
                source=source,
                source_id=message.pk,
                tokens=message.total_tokens,
                cost=message.cost,
            )


# -- an assistant's "Test reply" ----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TestReply:
    priced: gateway.PricedResult
    latency_ms: int
    retrieval_query: str
    sources: list[dict]  # as a message's: index, document, page, score, cited
    cost: Decimal  # the answer's and the query rewrite's, as a message's


def assistant_test_reply(
    *, organization, assistant_id, message: str, user, caller: Caller, channel: str = "web"
) -> TestReply:
    """What chat would answer, without a conversation: the same turn's inputs, retrieval
    and prompt with numbered sources (chat/turn.py), one non-streamed call, the cited
    sources and the cost recorded in the ledger like any answer. Nothing is stored but
    the usage."""
    inputs = turn_module.turn_inputs(
        organization=organization,
        assistant_id=assistant_id,
        message=message,
        user=user,
        channel=channel,
        caller=caller,
    )
    context = turn_module.turn_context(inputs)
    assistant = inputs.assistant
    priced = gateway.ai_chat_complete(
        model=assistant.model,
        request=context.request,
        context=gateway.UsageContext(
            organization=organization, user=user, assistant_id=assistant.id, channel=channel
        ),
        fallback=assistant.fallback_model,
    )
    text = priced.result.text
    cited = conversation.cited_indexes(text, len(context.sources))
    rewrite_cost = context.rewrite.cost if context.rewrite else Decimal("0")
    return TestReply(
        priced=priced,
        latency_ms=int((time.perf_counter() - inputs.started) * 1000),
        retrieval_query=context.query,
        sources=turn_module.source_rows(context.sources, cited),
        cost=(priced.cost or Decimal("0")) + rewrite_cost,
    )


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
        raise ValidationError({"message": ["Only answers can be rated."]})
    message.feedback_rating = rating
    message.feedback_comment = comment
    message.feedback_at = timezone.now() if rating is not None or comment else None
    message.save(update_fields=["feedback_rating", "feedback_comment", "feedback_at"])
    return message


def message_edit(*, message: Message, content: str) -> Message:
    """Change a question, keeping its first wording; the caller answers it again."""
    if message.role != Role.USER:
        raise ValidationError({"message": ["Only your own questions can be edited."]})
    content = turn_module.check_message(content)
    if not message.is_edited:
        message.original_content = message.content
    message.content = content
    message.is_edited = True
    message.edited_at = timezone.now()
    message.save(update_fields=["content", "original_content", "is_edited", "edited_at"])
    return message


def latest_answer(*, user_message: Message) -> Message | None:
    return user_message.replies.order_by("-created_at").first()


def session_start_with_context(
    *, assistant, channel: str, user=None, title: str, context: list[str]
) -> ChatSession:
    """A session for a conversation that began elsewhere (a Slack or Teams thread the
    bot joins late): its earlier messages, other people's included, are stored first as
    completed user messages so the next turn's history and follow-up rewrite see them.
    They are context, not questions: no answer is produced for them."""
    with transaction.atomic():
        session = ChatSession.objects.create(
            assistant=assistant,
            channel=channel,
            created_by=user if getattr(user, "pk", None) else None,
            title=conversation.title_from_message(title),
        )
        Message.objects.bulk_create(
            Message(session=session, role=Role.USER, content=text[:20000])
            for text in context
            if text.strip()
        )
        session_add_totals(session_id=session.pk, messages=len([t for t in context if t.strip()]))
    return session

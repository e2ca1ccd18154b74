"""Writes of the chat: preparing a turn, finishing it, and session housekeeping.

A turn is prepared (``chat/turn.py``: inputs, context, rows) before any provider
call and finished (answer, usage, cost, totals) after it, each in its own
transaction; between the two the stream holds no database connection.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from assistants import gateway
from assistants.providers.base import Usage
from assistants.providers.tokens import count_tokens
from chat import conversation
from chat import turn as turn_module
from chat.models import ChatSession, Message, MessageStatus, Role
from chat.turn import session_add_totals
from core import events
from core.access import Caller
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
    to the session's totals atomically. ``outcome``: what the stream learnt (model,
    usage, cost); none when the stream never started."""
    plan = turn
    outcome = outcome or plan.new_outcome()
    if outcome.usage is None and (text or status == MessageStatus.CANCELLED):
        # The stream ended before the provider reported usage (cut short, or a
        # provider that reports none): count the tokens ourselves.
        outcome.usage = _estimated_usage(plan, text)
    with transaction.atomic():
        stored = Message.objects.select_for_update().filter(pk=plan.assistant_message.pk).first()
        if stored is None or stored.status != MessageStatus.STREAMING:
            # The recovery sweep stored it `interrupted` (its heartbeat had stopped) and
            # charged it: finishing it again would count it twice.
            return stored or plan.assistant_message
        gateway.ai_record_stream_usage(outcome=outcome, context=plan.usage_context())
        usage = outcome.usage or Usage.of(0, 0)
        cited = conversation.cited_indexes(text, len(plan.sources))
        # A copy: the plan keeps the placeholder as it was stored.
        message = copy.copy(plan.assistant_message)
        message.content = text
        message.status = status
        message.error = error[:500]
        message.provider, message.model = outcome.model.provider, outcome.model.model_id
        # A message's tokens and cost include the query rewrite it needed, so the
        # messages of a session add up to its ledger rows.
        extra = plan.rewrite.result.usage if plan.rewrite else Usage.of(0, 0)
        message.prompt_tokens = usage.prompt_tokens + extra.prompt_tokens
        message.completion_tokens = usage.completion_tokens + extra.completion_tokens
        message.total_tokens = usage.total_tokens + extra.total_tokens
        message.cost = (outcome.cost or Decimal("0")) + (plan.rewrite.cost if plan.rewrite else 0)
        message.time_to_first_token_ms = ttft_ms
        message.latency_ms = int((time.perf_counter() - plan.started) * 1000)
        message.sources = turn_module.source_rows(plan.sources, cited)
        message.save()
        session_add_totals(
            session_id=plan.session.pk, messages=1, tokens=message.total_tokens, cost=message.cost
        )
        _template_use_record(plan, message)
        if status == MessageStatus.COMPLETE:
            events.event_emit(
                type="chat.message.completed",
                payload={
                    "session_id": str(plan.session.pk),
                    "message_id": str(message.pk),
                    "assistant_id": str(plan.session.assistant_id),
                    "channel": plan.session.channel,
                    "tokens": message.total_tokens,
                    "cost": str(message.cost),
                },
            )
    return message


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

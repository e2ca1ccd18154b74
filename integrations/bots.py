"""What the Slack and Teams bots share: routing, the event log, threads as sessions,
the chat turn run for a bot, and problems said out loud.

An incoming event is routed in the public schema (``route_find``), recorded once per
delivery id (``event_receive``: a retry or a duplicate is answered no second time),
and answered by a task in the organization's schema, which runs the dashboard's chat
turn (``chat.services.chat_prepare`` / ``chat_finish``) with channel ``slack`` or
``teams``: same retrieval, citations, quotas, rate limits and ledger.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_tenants.utils import tenant_context

from assistants import selectors as assistant_selectors
from assistants.providers.errors import ProviderError, as_domain_error
from chat import recovery
from chat import services as chat_services
from chat.models import MessageStatus
from chat.streaming import provider_deltas_sync
from core import errors
from core.access import Caller, Role, membership_model
from integrations.models import (
    Integration,
    IntegrationChannel,
    IntegrationEvent,
    IntegrationEventLevel,
    IntegrationRoute,
    IntegrationStatus,
    IntegrationThread,
)

logger = logging.getLogger(__name__)


# -- routing (public schema) --------------------------------------------------------


def route_find(*, provider: str, keys: list[str]) -> Integration | None:
    """The active integration of the first key that routes (Slack: enterprise id of an
    org-wide install, then team id), with its organization; None when unknown."""
    for key in [k for k in keys if k]:
        route = (
            IntegrationRoute.objects.select_related("integration__organization")
            .filter(provider=provider, key=key, integration__status=IntegrationStatus.ACTIVE)
            .first()
        )
        if route is not None:
            return route.integration
    return None


# -- the event log ---------------------------------------------------------------------


def event_receive(
    *, integration: Integration, delivery_id: str, kind: str, summary: str, payload: dict
) -> IntegrationEvent | None:
    """Store an incoming event once; None when this delivery id was already stored
    (a Slack retry, a duplicate), so it is answered no second time."""
    try:
        with transaction.atomic():
            event = IntegrationEvent.objects.create(
                integration=integration,
                organization_id=integration.organization_id,
                provider=integration.provider,
                delivery_id=delivery_id,
                kind=kind,
                summary=summary[:500],
                payload=payload,
                status="received",
            )
    except IntegrityError:
        return None
    return event


def event_claim(*, event_id) -> IntegrationEvent | None:
    """Claim a received event for answering; None when another run has it already
    (a task delivered twice answers once)."""
    claimed = IntegrationEvent.objects.filter(pk=event_id, status="received").update(
        status="answering"
    )
    if not claimed:
        return None
    event = IntegrationEvent.objects.select_related("integration__organization").get(pk=event_id)
    # Here rather than on receipt: the acknowledgement Slack waits for does one write less.
    Integration.objects.filter(pk=event.integration_id).update(last_event_at=event.created_at)
    return event


def event_claim_here(*, event_id) -> IntegrationEvent | None:
    """``event_claim`` for a task running in an organization's schema: only that
    organization's events."""
    from core.tenancy import current_organization

    organization = current_organization()
    if not IntegrationEvent.objects.filter(pk=event_id, organization=organization).exists():
        return None
    return event_claim(event_id=event_id)


def event_done(*, event: IntegrationEvent, status: str) -> None:
    IntegrationEvent.objects.filter(pk=event.pk).update(status=status)


def problem_record(*, integration: Integration, kind: str, message: str) -> None:
    """An error an admin must see on the Integrations page (never silent)."""
    now = timezone.now()
    IntegrationEvent.objects.create(
        integration=integration,
        organization_id=integration.organization_id,
        provider=integration.provider,
        kind=kind,
        level=IntegrationEventLevel.ERROR,
        summary=message[:500],
    )
    Integration.objects.filter(pk=integration.pk).update(
        last_error=message[:500], last_error_at=now
    )


# -- who asks, which assistant, which session ----------------------------------------


def assistant_for(*, integration: Integration, channel_id: str) -> str | None:
    config = integration.config or {}
    return (config.get("channels") or {}).get(channel_id) or config.get("default_assistant_id")


def member_by_email(*, organization, email: str | None):
    """The platform user of ``organization`` with this (verified) address, or None."""
    if not email:
        return None
    membership = (
        membership_model()
        .objects.select_related("user")
        .filter(organization=organization, user__email__iexact=email, user__is_active=True)
        .first()
    )
    return membership.user if membership else None


def bot_caller(*, organization, user) -> Caller:
    """The bot acts for the organization: it reaches the sessions of its own threads
    (ids from ``IntegrationThread``, never from the chat platform's user input)."""
    membership = membership_model()(organization=organization, user=user, role=Role.ADMIN)
    return Caller(organization=organization, user=user, membership=membership)


def thread_session_id(*, integration: Integration, key: str):
    return (
        IntegrationThread.objects.filter(integration=integration, key=key)
        .values_list("session_id", flat=True)
        .first()
    )


def thread_remember(*, integration: Integration, key: str, session_id) -> None:
    IntegrationThread.objects.get_or_create(
        integration=integration,
        key=key,
        defaults={"organization_id": integration.organization_id, "session_id": session_id},
    )


def channel_seen(
    *, integration: Integration, channel_id: str, kind: str = "", name: str = "", service_url=""
) -> None:
    """Record a channel the bot is in (one statement: an insert, or the refresh of its
    last-seen time, service URL and a name learnt since): a place a workflow's notify
    step may post to."""
    if not channel_id:
        return
    row = IntegrationChannel(
        integration=integration,
        organization_id=integration.organization_id,
        provider=integration.provider,
        channel_id=channel_id[:300],
        name=(name or "")[:200],
        kind=(kind or "")[:32],
        service_url=(service_url or "")[:500],
        last_seen_at=timezone.now(),
    )
    update = ["last_seen_at"] + [f for f in ("name", "service_url") if getattr(row, f)]
    IntegrationChannel.objects.bulk_create(
        [row],
        update_conflicts=True,
        unique_fields=["integration", "channel_id"],
        update_fields=update,
    )


# -- one answer ------------------------------------------------------------------------

NO_ASSISTANT = (
    "No assistant answers here yet. An admin can choose one for this channel (or a "
    "default) on the Integrations page of the dashboard."
)


@dataclass
class Answer:
    """What a bot posts: the text, its sources as dashboard links, the message to rate."""

    text: str
    status: str
    message_id: str | None
    session_id: str | None
    citations: list[dict]  # [{"index", "title", "url"}]
    problem: str = ""  # a clear sentence when the answer could not be given


def _citations(organization, message) -> list[dict]:
    base = organization.url
    return [
        {
            "index": source["index"],
            "title": source.get("document_title") or "Source",
            "url": f"{base}/chat/{message.session_id}?message={message.pk}#source-{source['index']}",
        }
        for source in message.sources
        if source.get("cited")
    ] or [
        {
            "index": source["index"],
            "title": source.get("document_title") or "Source",
            "url": f"{base}/chat/{message.session_id}?message={message.pk}#source-{source['index']}",
        }
        for source in message.sources[:3]
    ]


def problem_text(error: Exception) -> str:
    if isinstance(error, errors.QuotaExceeded):
        return f"I can't answer right now: {error.message} An admin can see the plan's usage."
    if isinstance(error, errors.RateLimited):
        return "Too many questions at once. Ask again in a minute."
    if isinstance(error, ValidationError):
        fields = getattr(error, "message_dict", {}) or {}
        if "assistant" in fields:
            return (
                "The assistant chosen for this channel is unknown or inactive. An admin can "
                "choose another on the Integrations page."
            )
        return "I can't answer that: " + " ".join(m for ms in fields.values() for m in ms)
    if isinstance(error, ProviderError | errors.ProviderFailed):
        return "The AI provider is not answering right now. Try again in a few minutes."
    if isinstance(error, errors.DomainError):
        return error.message
    return "Something went wrong while answering. The team has been told."


def answer_run(
    *,
    integration: Integration,
    assistant_id,
    question: str,
    user,
    thread_key: str,
    context_messages: Callable[[], list[str]] | None = None,
    on_delta: Callable[[str], None],
    channel: str,
) -> Answer:
    """Run the dashboard's chat turn for a bot, in the organization's schema: the
    thread's session (created for a new thread, with ``context_messages()``: the
    thread's earlier messages), the answer streamed to ``on_delta``, then stored.
    Quota, validation and provider failures become an ``Answer`` with ``problem``."""
    organization = integration.organization
    with tenant_context(organization):
        session_id = thread_session_id(integration=integration, key=thread_key)
        try:
            if session_id is None and context_messages is not None:
                earlier = context_messages()
                if earlier:
                    session = chat_services.session_start_with_context(
                        assistant=assistant_selectors.assistant_get(assistant_id=assistant_id),
                        channel=channel,
                        user=user,
                        title=question,
                        context=earlier,
                    )
                    thread_remember(integration=integration, key=thread_key, session_id=session.pk)
                    session_id = session.pk
            plan = chat_services.chat_prepare(
                organization=organization,
                assistant_id=assistant_id,
                message=question,
                user=user,
                session_id=session_id,
                channel=channel,
                caller=bot_caller(organization=organization, user=user),
            )
        except (errors.DomainError, ValidationError, ObjectDoesNotExist, ProviderError) as exc:
            return Answer("", MessageStatus.ERROR, None, None, [], problem=problem_text(exc))
        if session_id is None:
            thread_remember(integration=integration, key=thread_key, session_id=plan.session.pk)
        return _stream(plan, on_delta)


def _stream(plan, on_delta) -> Answer:
    outcome = plan.new_outcome()
    parts: list[str] = []
    ttft_ms = None
    status, error, problem = MessageStatus.COMPLETE, "", ""
    beat_every = settings.CHAT_STREAM_HEARTBEAT_SECONDS
    last_beat = time.monotonic()
    deltas: Iterator[str] = provider_deltas_sync(plan, outcome)
    try:
        for delta in deltas:
            if ttft_ms is None:
                ttft_ms = int((time.perf_counter() - plan.started) * 1000)
            parts.append(delta)
            on_delta(delta)
            if time.monotonic() - last_beat > beat_every:
                recovery.answer_heartbeat(message_id=plan.assistant_message.pk, text="".join(parts))
                last_beat = time.monotonic()
    except ProviderError as exc:
        domain = as_domain_error(exc)
        status, error, problem = MessageStatus.ERROR, domain.message, problem_text(exc)
    message = chat_services.chat_finish(
        turn=plan,
        outcome=outcome,
        text="".join(parts),
        status=status,
        error=error,
        ttft_ms=ttft_ms,
    )
    return Answer(
        text=message.content,
        status=message.status,
        message_id=str(message.pk),
        session_id=str(plan.session.pk),
        citations=_citations(plan.organization, message) if status == "complete" else [],
        problem=problem,
    )


def feedback_record(*, integration: Integration, message_id: str, rating: int) -> bool:
    """A thumbs up (1) or down (-1) from the chat platform, on an answer of one of this
    integration's threads; False when the message is not one."""
    from chat.models import Message

    with tenant_context(integration.organization):
        try:
            message = Message.objects.get(pk=message_id)
        except (ObjectDoesNotExist, ValidationError, ValueError):
            return False
        if not IntegrationThread.objects.filter(
            integration=integration, session_id=message.session_id
        ).exists():
            return False
        chat_services.message_feedback(message=message, rating=rating)
    return True

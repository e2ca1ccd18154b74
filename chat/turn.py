"""A chat turn as three named steps that end in one immutable plan.

    inputs   validate the question, find the assistant and the session, check the
             message quota: bad input raises here, before anything is stored or called
    context  history, the retrieval query (rewritten for follow-ups), retrieval, the
             prompt within the context window, the provider request and stream plan
    rows     in one transaction: the session (when new), the question and a
             placeholder answer (status ``streaming``)

``prepare_turn`` runs them in that order and returns a ``TurnPlan``: a frozen record
of everything the stream and the finishing write need. Nothing mutates it; what the
stream learns (which model answered, usage, cost) goes into a ``gateway.StreamOutcome``
owned by whoever runs the stream, and the finishing write copies the answer row.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from assistants import gateway
from assistants import selectors as assistant_selectors
from assistants.catalog.models import AnswerMode
from assistants.models import Assistant
from assistants.providers.base import ChatMessage, ChatRequest, Usage
from assistants.providers.errors import ProviderError
from assistants.providers.tokens import count_tokens
from billing import quotas
from chat import access, conversation
from chat import attachments as attachment_context
from chat.models import ChatSession, Message, MessageStatus, Role
from core.access import Caller
from core.tenancy import require_tenant_schema
from knowledge_base import retrieval
from prompts import selectors as prompt_selectors

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TurnInputs:
    """A validated question and who asks it, before anything is stored."""

    organization: object
    user: object | None
    channel: str
    assistant: Assistant
    session: ChatSession | None  # None: a new session is made with the rows
    text: str
    top_k: int
    existing_user_message: Message | None  # regenerate/edit: the question exists
    regenerates: Message | None
    started: float
    api_key_id: int | None = None  # asked through an API key: the new session is the key's
    attachments: tuple = ()  # files.File the question carries (chat/attachments.py)
    prompt_version_id: object = None  # written from this template version (the picker)
    external_user_id: str = ""  # who asked outside the platform (a widget's visitor)

    def usage_context(self) -> gateway.UsageContext:
        """Who the turn's provider calls are recorded for (retrieval's and the answer's)."""
        return gateway.UsageContext(
            organization=self.organization,
            user=self.user,
            assistant_id=self.assistant.id,
            channel=self.channel,
        )


@dataclass(frozen=True)
class TurnContext:
    """What the model will be asked, resolved before any row is written."""

    query: str  # what retrieval searched for (the follow-up rewritten)
    rewrite: gateway.PricedResult | None  # the rewrite's model call, already in the ledger
    sources: tuple[conversation.RetrievedSource, ...]
    request: ChatRequest
    stream: gateway.StreamPlan
    omitted: tuple[dict, ...] = ()  # attachments (or parts) the context could not hold
    # The prompt's tokens, counted while the request was built (the system prompt with
    # its sources is most of them): the placeholder's estimate, without a second count.
    prompt_tokens: int = 0


@dataclass(frozen=True)
class TurnPlan:
    """One prepared turn: the rows it wrote and everything its stream needs."""

    organization: object
    user: object | None
    channel: str
    assistant: Assistant
    session: ChatSession
    user_message: Message
    assistant_message: Message  # the placeholder, as stored (status ``streaming``)
    request: ChatRequest
    stream: gateway.StreamPlan
    sources: tuple[conversation.RetrievedSource, ...]
    rewrite: gateway.PricedResult | None
    started: float  # perf_counter at the start of preparation (TTFT and latency)
    # The template version the question was written from: the answer is its use.
    prompt_version_id: object = None

    @property
    def answer_mode(self) -> str:
        return self.assistant.model.answer_mode

    def usage_context(self) -> gateway.UsageContext:
        return gateway.UsageContext(
            organization=self.organization,
            user=self.user,
            assistant_id=self.assistant.id,
            channel=self.channel,
        )

    def new_outcome(self) -> gateway.StreamOutcome:
        """The mutable record one run of the stream fills in."""
        return gateway.StreamOutcome(model=self.stream.model)


# -- step 1: inputs --------------------------------------------------------------


def _field_error(name: str, message: str) -> ValidationError:
    return ValidationError({name: [message]})


def check_message(message: str | None) -> str:
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


def turn_inputs(
    *,
    organization,
    assistant_id,
    message: str | None,
    user=None,
    session_id=None,
    top_k: int | None = None,
    channel: str = "web",
    caller: Caller,
    existing_user_message: Message | None = None,
    regenerates: Message | None = None,
    attachments: list | None = None,
    prompt_version=None,
    external_user_id: str = "",
) -> TurnInputs:
    """``caller``: whose sessions and assistants may be used (chat.access); a session
    created by the turn belongs to the caller (its person, or its API key).
    ``external_user_id``: stored on a session the turn creates (a widget's visitor),
    in the same INSERT."""
    require_tenant_schema()
    started = time.perf_counter()
    text = existing_user_message.content if existing_user_message else check_message(message)
    assistant = _active_assistant(str(assistant_id), caller.allowed_assistant_ids)
    if top_k is not None and not 1 <= top_k <= 20:
        raise _field_error("top_k", "Use 1 to 20.")
    session = None
    if session_id is not None:
        session = access.access_session(caller=caller, session_id=session_id)
        # Another assistant than the session's: the conversation switches to it (and so to
        # its model) from this question on; the history goes with it (``turn_rows``).
        if session.channel in ("slack", "teams") and channel != session.channel:
            # A bot's thread is read-only elsewhere: its answers belong in the thread.
            raise _field_error(
                "session", f"This conversation is a {session.channel.title()} thread; reply there."
            )
    if existing_user_message is not None:
        files = list(existing_user_message.attachments.all())
        attachment_context.check_vision(files, assistant.model)
    else:
        files = attachment_context.attachments_resolve(
            caller=caller, file_ids=attachments or [], model=assistant.model
        )
        quotas.quota_check_messages(organization)
    prompt_version_id = _prompt_version(prompt_version, user) if prompt_version else None
    # The AI quotas are checked by the gateway before each provider call (rewrite,
    # embedding, answer), all of which come before anything is stored.
    return TurnInputs(
        organization=organization,
        user=user,
        channel=channel,
        assistant=assistant,
        session=session,
        text=text,
        top_k=top_k or assistant.retrieval_top_k,
        existing_user_message=existing_user_message,
        regenerates=regenerates,
        started=started,
        api_key_id=caller.api_key.pk if caller.api_key else None,
        attachments=tuple(files),
        prompt_version_id=prompt_version_id,
        external_user_id=external_user_id[:200],
    )


def _prompt_version(version_id, user):
    """The id of a template version the person may see (the picker offers only those)."""
    try:
        version = prompt_selectors.version_by_id(version_id=version_id)
        prompt_selectors.template_get(template_id=version.template_id, user=user)
    except ObjectDoesNotExist:
        raise _field_error("prompt_version", "No such prompt template version.") from None
    return version.pk


# -- step 2: context -------------------------------------------------------------


def _history(session: ChatSession, before: Message | None) -> list[conversation.HistoryTurn]:
    """The session's completed turns, only the latest answer to each question (an
    answer that was regenerated is some newer answer's ``parent``), in one query."""
    superseded = Message.objects.filter(session=session, parent__isnull=False).values("parent_id")
    messages = (
        session.messages.filter(status=MessageStatus.COMPLETE, role__in=[Role.USER, Role.ASSISTANT])
        .exclude(id__in=superseded)
        .order_by("created_at", "id")
    )
    if before is not None:
        messages = messages.filter(created_at__lt=before.created_at)
    return [
        conversation.HistoryTurn(role, content)
        for role, content in messages.values_list("role", "content")
    ]


def retrieval_query_for(
    *, assistant: Assistant, message: str, history, organization, user, channel
) -> tuple[str, gateway.PricedResult | None]:
    """A standalone query for follow-ups: the assistant's model rewrites it, or,
    offline (extractive responder) or when that fails, the rule-based rewrite."""
    previous = [t.content for t in history if t.role == Role.USER]
    if not previous or not conversation.is_follow_up(message):
        return message, None
    if assistant.model.answer_mode == AnswerMode.EXTRACTIVE:
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
    """The session's narrowed collections that the assistant has, else all of the
    assistant's (after a switch the narrowing may name the previous assistant's)."""
    collections = list(assistant.collections.all())
    if session is not None:
        narrowed = {c.pk for c in session.collections.all()}
        kept = [c for c in collections if c.pk in narrowed]
        if kept:
            return kept
    return collections


def _retrieve(inputs: TurnInputs, query: str) -> tuple[conversation.RetrievedSource, ...]:
    collections = _collections(inputs.assistant, inputs.session)
    if not collections:
        return ()
    assistant = inputs.assistant
    params = retrieval.SearchParams(
        query=query,
        collections=collections,
        mode=retrieval.SearchMode(assistant.retrieval_mode),
        top_k=inputs.top_k,
        min_score=float(assistant.retrieval_min_score),
        rerank=retrieval.Rerank(assistant.reranker, assistant.rerank_candidates)
        if assistant.reranker_id
        else None,
        snippets=False,  # the prompt carries the chunks' text; no highlight is shown
    )
    result = retrieval.search_with_outcome(
        params, organization=inputs.organization, usage=inputs.usage_context()
    )
    reranked = result.rerank.applied if result.rerank is not None else None
    sources = [
        conversation.RetrievedSource.of_hit(number, hit, reranked=reranked)
        for number, hit in enumerate(result.hits, start=1)
    ]
    return tuple(conversation.with_parent_sections(sources, _knowledge_budget(inputs)))


def _knowledge_budget(inputs: TurnInputs) -> int:
    """Tokens the knowledge passages may take when they grow to their parent sections:
    half of what the context window leaves after the answer and the question (as
    attachments get), so history keeps room. Chunks themselves are always sent."""
    model = inputs.assistant.model
    room = (
        (model.context_window or 8000)
        - inputs.assistant.max_output_tokens
        - count_tokens(inputs.text)
    )
    return max(room // 2, 0)


def _attachments(inputs: TurnInputs) -> attachment_context.AttachmentContext:
    """The question's and the session's attachments, within half of what the context
    window leaves after the answer and the question (the rest is for knowledge and
    history)."""
    earlier = attachment_context.session_attachments(inputs.session, inputs.existing_user_message)
    if not inputs.attachments and not earlier:
        return attachment_context.AttachmentContext((), (), ())
    model = inputs.assistant.model
    room = (
        (model.context_window or 8000)
        - inputs.assistant.max_output_tokens
        - count_tokens(inputs.text)
    )
    return attachment_context.attachments_context(
        files=list(inputs.attachments),
        earlier=earlier,
        question=inputs.text,
        allowance=max(room // 2, 0),
    )


def _request(inputs: TurnInputs, history, sources, images=()) -> tuple[ChatRequest, int]:
    """The provider request: system prompt with the sources, then as much history as
    the model's context window leaves room for, then the question; and the prompt's
    estimated tokens (``estimated_prompt_tokens``, the system prompt counted once)."""
    assistant, model, text = inputs.assistant, inputs.assistant.model, inputs.text
    system = conversation.system_prompt(assistant.system_instructions, list(sources))
    system_tokens = count_tokens(system)
    budget = (
        (model.context_window or 8000)
        - assistant.max_output_tokens
        - system_tokens
        - count_tokens(text)
    )
    messages = [
        *conversation.history_within_budget(history, max(budget, 0)),
        ChatMessage("user", text, tuple(images)),
    ]
    request = ChatRequest(
        model=model.model_id,
        messages=messages,
        system=system,
        temperature=float(assistant.temperature),
        top_p=float(assistant.top_p),
        max_tokens=assistant.max_output_tokens,
        sources=[s.as_provider_source() for s in sources],
    )
    return request, estimated_prompt_tokens(request, system_tokens=system_tokens)


def turn_context(inputs: TurnInputs) -> TurnContext:
    history = _history(inputs.session, inputs.existing_user_message) if inputs.session else []
    query, rewrite = retrieval_query_for(
        assistant=inputs.assistant,
        message=inputs.text,
        history=history,
        organization=inputs.organization,
        user=inputs.user,
        channel=inputs.channel,
    )
    attached = _attachments(inputs)
    # Attachments' sources come first ([1]...), the knowledge passages after them.
    offset = len(attached.sources)
    retrieved = tuple(
        dataclasses.replace(s, index=s.index + offset) for s in _retrieve(inputs, query)
    )
    sources = attached.sources + retrieved
    request, prompt_tokens = _request(inputs, history, sources, attached.images)
    usage = inputs.usage_context()
    stream = gateway.ai_stream_plan(
        model=inputs.assistant.model,
        request=request,
        context=usage,
        fallback=inputs.assistant.fallback_model,
    )
    return TurnContext(
        query=query,
        rewrite=rewrite,
        sources=sources,
        request=request,
        stream=stream,
        omitted=attached.omitted,
        prompt_tokens=prompt_tokens,
    )


# -- step 3: rows ----------------------------------------------------------------


def source_rows(sources, cited: list[int] | None = None) -> list[dict]:
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
            "file_id": s.file_id or None,
            # An attached file's passage is kept nowhere else: its text goes with the row.
            **({"excerpt": s.text[:2000]} if s.file_id else {}),
            # The model read the chunk's parent section (ADR 0103), which also held these
            # other retrieved chunks.
            **(
                {"parent_id": s.parent_id, "merged_chunk_ids": list(s.merged_chunk_ids)}
                if s.parent_used
                else {}
            ),
            # Whether the assistant's reranker ordered the passages (ADR 0100).
            **(
                {"reranked": s.reranked, "rerank_score": s.rerank_score}
                if s.reranked is not None
                else {}
            ),
        }
        for s in sources
    ]


def session_add_totals(
    *,
    session_id,
    messages: int,
    tokens: int = 0,
    cost: Decimal = Decimal("0"),
    assistant: Assistant | None = None,
) -> None:
    """Add to a session's totals in one UPDATE with F() expressions: the database
    applies concurrent additions one after another, so none is lost. ``assistant``: the
    one answering from now on (a switch costs no statement of its own)."""
    ChatSession.objects.filter(pk=session_id).update(
        message_count=F("message_count") + messages,
        total_tokens=F("total_tokens") + tokens,
        total_cost=F("total_cost") + cost,
        last_message_at=timezone.now(),
        **({"assistant": assistant} if assistant is not None else {}),
    )


def sessions_add_totals(*, totals: dict) -> None:
    """``session_add_totals`` for many sessions in one UPDATE: ``totals`` maps a session
    id to (messages, tokens, cost) to add. The additions are applied by the database
    (``total = total + added``), so none is lost to a concurrent one; the ids are sorted,
    so two batches lock shared sessions in one order."""
    if not totals:
        return
    ids = sorted(totals)
    table = ChatSession._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS s SET message_count = s.message_count + added.messages, "  # noqa: S608
            "total_tokens = s.total_tokens + added.tokens, "
            "total_cost = s.total_cost + added.cost, last_message_at = %s "
            "FROM unnest(%s::uuid[], %s::integer[], %s::bigint[], %s::numeric[]) "
            "AS added(id, messages, tokens, cost) WHERE s.id = added.id",
            [
                timezone.now(),
                ids,
                [totals[i][0] for i in ids],
                [totals[i][1] for i in ids],
                [totals[i][2] for i in ids],
            ],
        )


def estimated_prompt_tokens(request: ChatRequest, *, system_tokens: int | None = None) -> int:
    """The prompt's tokens as we count them (the system prompt, then the messages), for
    an answer whose provider reported no usage. ``system_tokens``: the system prompt's,
    when counted already (with its sources it is most of the text)."""
    if system_tokens is None:
        system_tokens = count_tokens(request.system or "")
    return system_tokens + count_tokens("\n".join(m.content for m in request.messages))


def _placeholder_usage(context: TurnContext) -> dict:
    """What the streaming row carries before the answer is finished: the query rewrite's
    usage (already in the ledger) and the answer prompt's estimate, so an answer
    orphaned by a crash is charged consistently by the recovery sweep (chat/recovery.py),
    and one whose stream reports no usage by ``chat_finish``."""
    rewrite = context.rewrite
    extra = rewrite.result.usage if rewrite else Usage.of(0, 0)
    return {
        "estimated_prompt_tokens": context.prompt_tokens,
        "prompt_tokens": extra.prompt_tokens,
        "completion_tokens": extra.completion_tokens,
        "total_tokens": extra.total_tokens,
        "cost": rewrite.cost if rewrite else Decimal("0"),
    }


def turn_rows(inputs: TurnInputs, context: TurnContext) -> TurnPlan:
    """The session (when new), the question and the placeholder answer, in one
    transaction of at most three statements: the two messages are one INSERT, and a new
    session is created already counting its question (no UPDATE of its totals). Each
    round trip to PostgreSQL before the answer starts is time to first token."""
    model = inputs.assistant.model
    session = inputs.session
    asking = inputs.existing_user_message is None
    with transaction.atomic():
        if asking:
            # Again under the organization's lock: exact when a burst races for the last one.
            quotas.quota_check_messages(inputs.organization, lock=True)
        if session is None:
            session = ChatSession.objects.create(
                assistant=inputs.assistant,
                channel=inputs.channel,
                created_by=inputs.user if getattr(inputs.user, "pk", None) else None,
                api_key_id=inputs.api_key_id,
                external_user_id=inputs.external_user_id,
                title=conversation.title_from_message(inputs.text),
                # the question below, counted as session_add_totals would count it
                message_count=1 if asking else 0,
                last_message_at=timezone.now() if asking else None,
            )
        elif asking:
            session_add_totals(session_id=session.pk, messages=1, assistant=inputs.assistant)
        elif session.assistant_id != inputs.assistant.id:
            ChatSession.objects.filter(pk=session.pk).update(assistant=inputs.assistant)
        if session.assistant_id != inputs.assistant.id:
            session.assistant = inputs.assistant
        user_message = inputs.existing_user_message
        if asking:
            user_message = Message(session=session, role=Role.USER, content=inputs.text)
        answer = Message(
            session=session,
            role=Role.ASSISTANT,
            status=MessageStatus.STREAMING,
            reply_to=user_message,
            parent=inputs.regenerates,
            assistant=inputs.assistant,
            provider=model.provider,
            model=model.model_id,
            retrieval_query=context.query,
            sources=source_rows(context.sources),
            context_omitted=list(context.omitted),
            **_placeholder_usage(context),
        )
        # One INSERT for both (ids are made here; the question is first, as before).
        Message.objects.bulk_create([user_message, answer] if asking else [answer])
        if asking and inputs.attachments:
            user_message.attachments.set(inputs.attachments)
    return TurnPlan(
        organization=inputs.organization,
        user=inputs.user,
        channel=inputs.channel,
        assistant=inputs.assistant,
        session=session,
        user_message=user_message,
        assistant_message=answer,
        request=context.request,
        stream=context.stream,
        sources=context.sources,
        rewrite=context.rewrite,
        started=inputs.started,
        prompt_version_id=inputs.prompt_version_id,
    )


def prepare_turn(**arguments) -> TurnPlan:
    """Inputs, context, rows. Bad input or a quota reached raises before anything is
    stored or any provider is called (see ``turn_inputs`` for the arguments)."""
    inputs = turn_inputs(**arguments)
    return turn_rows(inputs, turn_context(inputs))

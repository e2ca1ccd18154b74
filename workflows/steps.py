"""What each step type does. A step gets its definition, the run's context (input and
earlier outputs) and the step run (for its idempotency key); it returns its output and
the AI usage it caused, or raises ``StepFailed`` (``retryable`` says whether another
attempt can help).

Every AI call goes through the gateway (quotas checked before it, one ledger row per
call with channel ``workflow``); every HTTP request through ``core.outbound``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import httpx2
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.utils import timezone

from assistants import gateway
from assistants import selectors as assistant_selectors
from assistants.catalog import selectors as catalog
from assistants.providers.base import ChatMessage, ChatRequest
from assistants.providers.errors import ProviderError, as_domain_error
from billing.models import Channel
from chat import services as chat_services
from chat import streaming as chat_streaming
from core import crypto, notifications, outbound
from core.access import Caller
from core.errors import DomainError, ProviderRejected, QuotaExceeded, RateLimited
from knowledge_base import retrieval
from knowledge_base import selectors as knowledge_selectors
from knowledge_base import services as knowledge_services
from prompts import rendering
from prompts import selectors as prompt_selectors
from prompts import services as prompt_services
from prompts.models import UseSource
from workflows.models import WorkflowSecret, WorkflowStepRun

DEFAULT_STEP_TIMEOUT = 60.0
MAX_HTTP_BODY_KEPT = 20_000


class StepFailed(Exception):
    def __init__(self, message: str, *, retryable: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        # What the other side asked to wait (a Slack 429's Retry-After), in seconds.
        self.retry_after = retry_after


@dataclass
class StepResult:
    output: dict
    tokens: int = 0
    cost: Decimal = Decimal("0")
    recorded_input: dict = field(default_factory=dict)
    # Set by a condition that is false: the key of the step to go on at, or "end".
    goto: str | None = None
    wait: bool = False  # approval: pause the run


@dataclass
class StepContext:
    organization: object
    user: object | None
    run: object  # WorkflowRun
    step_run: object  # WorkflowStepRun
    values: dict  # {"input": ..., "steps": {key: output}, "run": {...}}


def render(source: str, ctx: StepContext) -> str:
    try:
        return rendering.render_text(source, ctx.values)
    except rendering.RenderError as error:
        raise StepFailed(str(error)) from None


def _ai_error(error: Exception) -> StepFailed:
    domain = as_domain_error(error) if isinstance(error, ProviderError) else error
    if isinstance(domain, QuotaExceeded | ProviderRejected):
        return StepFailed(domain.message)
    if isinstance(domain, DomainError):
        return StepFailed(domain.message, retryable=not isinstance(domain, QuotaExceeded))
    return StepFailed(str(domain), retryable=True)


def _usage_context(ctx: StepContext, assistant_id=None) -> gateway.UsageContext:
    return gateway.UsageContext(
        organization=ctx.organization,
        user=ctx.user,
        assistant_id=assistant_id,
        channel=Channel.WORKFLOW,
    )


# -- AI ------------------------------------------------------------------------------


def run_prompt(step: dict, ctx: StepContext) -> StepResult:
    try:
        version = prompt_selectors.version_by_id(version_id=step["version_id"])
    except (ObjectDoesNotExist, KeyError):
        raise StepFailed("The prompt template version no longer exists.") from None
    values = {name: render(source, ctx) for name, source in (step.get("values") or {}).items()}
    try:
        text = rendering.render_prompt(
            body=version.body, variables=version.variables, values=values
        )
    except DomainError as error:
        raise StepFailed(f"{error.message} {json.dumps(error.fields)}") from None
    hints = version.model_hints or {}
    assistant = None
    if step.get("assistant_id"):
        try:
            assistant = assistant_selectors.assistant_get(assistant_id=step["assistant_id"])
        except ObjectDoesNotExist:
            raise StepFailed("The assistant no longer exists.") from None
    model_key = step.get("model") or hints.get("model")
    model = (
        catalog.ai_model_get_by_key(key=model_key, capability="chat")
        if model_key
        else (assistant.model if assistant else None)
    )
    if model is None:
        raise StepFailed("No model: set the step's model or the template's model hint.")
    messages = []
    if assistant is not None and assistant.system_instructions:
        messages.append(ChatMessage("system", assistant.system_instructions))
    messages.append(ChatMessage("user", text))
    request = ChatRequest(
        model=model.model_id,
        messages=messages,
        temperature=hints.get("temperature", 0.3),
        max_tokens=hints.get("max_tokens", 1024),
    )
    try:
        priced = gateway.ai_chat_complete(
            model=model,
            request=request,
            context=_usage_context(ctx, assistant.id if assistant else None),
        )
    except (ProviderError, DomainError) as error:
        raise _ai_error(error) from error
    prompt_services.use_record(
        version=version,
        source=UseSource.WORKFLOW,
        source_id=str(ctx.run.pk),
        usage_record=priced.usage_record,
    )
    return StepResult(
        output={"text": priced.result.text, "model": priced.model.key},
        tokens=priced.result.usage.total_tokens,
        cost=priced.cost,
        recorded_input={"template_version": version.number, "values": values},
    )


def run_ask_assistant(step: dict, ctx: StepContext) -> StepResult:
    message = render(step["message"], ctx)
    caller = Caller(organization=ctx.organization, user=ctx.user, membership=None)
    try:
        turn = chat_services.chat_prepare(
            organization=ctx.organization,
            assistant_id=step["assistant_id"],
            message=message,
            user=ctx.user,
            channel=Channel.WORKFLOW,
            caller=caller,
        )
        answer = chat_streaming.run_turn_to_completion(turn)
    except DjangoValidationError as error:
        raise StepFailed("; ".join(error.messages)) from None
    except (ProviderError, DomainError) as error:
        raise _ai_error(error) from error
    return StepResult(
        output={
            "answer": answer.content,
            "session_id": str(answer.session_id),
            "message_id": str(answer.pk),
            "sources": [
                {"title": s.get("document_title", ""), "text": s.get("text", "")[:500]}
                for s in (answer.sources or [])
                if s.get("cited", True)
            ],
        },
        tokens=answer.total_tokens,
        cost=answer.cost,
        recorded_input={"message": message},
    )


def run_retrieve(step: dict, ctx: StepContext) -> StepResult:
    query = render(step["query"], ctx)
    try:
        collections = knowledge_selectors.collections_by_ids(ids=step["collection_ids"])
    except ObjectDoesNotExist:
        raise StepFailed("A collection of this step no longer exists.") from None
    filters = retrieval.SearchFilters()
    recorded = {"query": query}
    if step.get("since_days"):
        # "last week's documents": the completed documents added since then, searched alone
        since = timezone.now() - timedelta(days=float(step["since_days"]))
        recorded["since"] = since.isoformat()
        filters = retrieval.SearchFilters(
            documents=[
                pk
                for collection in collections
                for pk in knowledge_selectors.document_list(
                    collection=collection, status="completed"
                )
                .filter(created_at__gte=since)
                .values_list("id", flat=True)
            ]
        )
        if not filters.documents:  # none that recent: nothing to find (an empty filter is none)
            return StepResult(output={"hits": [], "count": 0, "text": ""}, recorded_input=recorded)
    try:
        hits = retrieval.search(
            retrieval.SearchParams(
                query=query,
                collections=collections,
                top_k=min(step.get("top_k") or 5, 20),
                filters=filters,
            ),
            organization=ctx.organization,
            usage=_usage_context(ctx),
        )
    except (ProviderError, DomainError) as error:
        raise _ai_error(error) from error
    rows = [
        {
            "title": h.document_title,
            "text": h.text,
            "score": round(h.score, 4),
            "page": h.page,
            # Parent-child collections: the section the chunk was cut from (ADR 0103).
            "context": h.context_text,
        }
        for h in hits
    ]
    # What a later model step reads: each hit's section (its parent), each section once.
    passages, seen = [], set()
    for hit in hits:
        key = ("section", hit.parent.id) if hit.parent is not None else ("chunk", hit.chunk_id)
        if key not in seen:
            seen.add(key)
            passages.append(f"[{len(passages) + 1}] {hit.document_title}\n{hit.context_text}")
    return StepResult(
        output={"hits": rows, "count": len(rows), "text": "\n\n".join(passages)},
        recorded_input=recorded,
    )


# -- logic ---------------------------------------------------------------------------


def run_condition(step: dict, ctx: StepContext) -> StepResult:
    try:
        value = rendering.evaluate_expression(step["expression"], ctx.values)
    except rendering.RenderError as error:
        raise StepFailed(str(error)) from None
    result = bool(value)
    return StepResult(
        output={"result": result},
        goto=None if result else (step.get("else_goto") or "end"),
    )


def run_transform(step: dict, ctx: StepContext) -> StepResult:
    text = render(step["template"], ctx)
    if step.get("output") == "json":
        try:
            return StepResult(output={"value": json.loads(text)})
        except json.JSONDecodeError as error:
            raise StepFailed(f"The template did not produce JSON: {error}") from None
    return StepResult(output={"value": text})


# -- effects -------------------------------------------------------------------------


def _header_value(source: str, ctx: StepContext) -> tuple[str, bool]:
    """A header's value and whether it is secret (never recorded)."""
    if source.startswith("secret:"):
        name = source.removeprefix("secret:").strip()
        secret = WorkflowSecret.objects.filter(name=name).first()
        if secret is None:
            raise StepFailed(f"No workflow secret named '{name}'.")
        return crypto.decrypt(secret.value_encrypted), True
    return render(source, ctx), False


def run_http_request(step: dict, ctx: StepContext) -> StepResult:
    method = step["method"].upper()
    url = render(step["url"], ctx)
    try:
        outbound.check_url(url)
    except (outbound.InvalidURL, httpx2.HTTPError) as error:
        raise StepFailed(f"The address may not be requested ({error})") from None
    headers, recorded_headers = {}, {}
    for name, source in (step.get("headers") or {}).items():
        value, secret = _header_value(source, ctx)
        headers[name] = value
        recorded_headers[name] = "••••" if secret else value
    headers["Idempotency-Key"] = ctx.step_run.idempotency_key
    body = render(step["body"], ctx) if step.get("body") else None
    timeout = float(step.get("timeout_seconds") or DEFAULT_STEP_TIMEOUT)
    try:
        with outbound.client(timeout=timeout) as client:
            response = client.request(method, url, headers=headers, content=body)
            text = response.text
    except outbound.UnreachableAddress as error:
        raise StepFailed(str(error), retryable=True) from None
    except httpx2.HTTPError as error:
        raise StepFailed(f"The request failed: {type(error).__name__}", retryable=True) from None
    recorded = {"method": method, "url": url, "headers": recorded_headers, "body": body}
    if response.status_code >= 500 or response.status_code == 429:
        raise StepFailed(f"The server answered {response.status_code}.", retryable=True)
    if response.status_code >= 400:
        raise StepFailed(f"The server answered {response.status_code}: {text[:300]}")
    try:
        data = response.json()
    except ValueError:
        data = None
    return StepResult(
        output={"status": response.status_code, "json": data, "text": text[:MAX_HTTP_BODY_KEPT]},
        recorded_input=recorded,
    )


def run_save_document(step: dict, ctx: StepContext) -> StepResult:
    title, text = render(step["title"], ctx)[:300], render(step["text"], ctx)
    try:
        collection = knowledge_selectors.collection_get(collection_id=step["collection_id"])
    except ObjectDoesNotExist:
        raise StepFailed("The collection no longer exists.") from None
    try:
        # The same text twice is one document (its hash): a retried step adds nothing.
        outcome = knowledge_services.document_create_text(
            collection=collection, title=title, text=text, user=ctx.user
        )
    except DjangoValidationError as error:
        raise StepFailed("; ".join(error.messages)) from None
    except RateLimited as error:
        raise StepFailed(error.message, retryable=True) from None
    except DomainError as error:
        raise StepFailed(error.message) from None
    document = outcome.document or outcome.duplicate_of
    return StepResult(
        output={"document_id": str(document.pk), "duplicate": outcome.document is None},
        recorded_input={"title": title, "collection_id": str(collection.pk)},
    )


def run_notify(step: dict, ctx: StepContext) -> StepResult:
    target = step.get("target") or "email"
    if target != "email":
        return _notify_channel(target, step, ctx)
    recipients = [render(r, ctx).strip() for r in step["to"]]
    for address in recipients:
        try:
            validate_email(address)
        except DjangoValidationError:
            raise StepFailed(f"Not an e-mail address: {address[:100]}") from None
    subject = render(step["subject"], ctx).replace("\n", " ")[:200]
    body = render(step["body"], ctx)
    domain = settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1]
    message = EmailMessage(
        subject=subject,
        body=body,
        to=recipients,
        # The same on every attempt: mail systems drop a second copy of one Message-ID.
        headers={"Message-ID": f"<{ctx.step_run.idempotency_key}@{domain}>"},
    )
    try:
        message.send()
    except OSError as error:
        raise StepFailed(f"The e-mail could not be sent: {error}", retryable=True) from None
    return StepResult(
        output={"sent_to": recipients, "subject": subject},
        recorded_input={"to": recipients, "subject": subject, "body": body[:2000]},
    )


def _notify_channel(target: str, step: dict, ctx: StepContext) -> StepResult:
    """Slack or Teams, through the sender the integrations app registered.

    Never twice: before the message leaves, the step run records that a send began
    (committed); an attempt that finds that mark (the worker died mid-send) tells the
    sender a message may be out already, which the sender then finds (Slack, by the
    idempotency key in the message's metadata) or does not repeat (Teams). A failure the
    provider answered clears the mark: nothing was posted, the retry sends."""
    subject = render(step["subject"], ctx).replace("\n", " ")[:200] if step.get("subject") else ""
    body = render(step["body"], ctx)
    recorded = {
        "target": target,
        "integration_id": step["integration_id"],
        "channel_id": step["channel_id"],
        "subject": subject,
        "body": body[:2000],
    }
    maybe_sent = (ctx.step_run.input or {}).get("delivery") == "sending"
    try:
        channel = notifications.channel_for(target)
    except LookupError:
        raise StepFailed(f"{target} notifications are not available here.") from None
    _mark_delivery(ctx, {**recorded, "delivery": "sending"})
    try:
        delivered = channel.send(
            organization=ctx.organization,
            integration_id=step["integration_id"],
            channel_id=step["channel_id"],
            notification=notifications.Notification(
                text=body,
                title=subject,
                key=ctx.step_run.idempotency_key,
                maybe_sent=maybe_sent,
                since=ctx.step_run.started_at,
            ),
        )
    except notifications.DeliveryFailed as failure:
        _mark_delivery(ctx, {**recorded, "delivery": "failed"})
        raise StepFailed(
            failure.message, retryable=failure.retryable, retry_after=failure.retry_after
        ) from None
    return StepResult(
        output={
            "target": target,
            "channel_id": step["channel_id"],
            "message_id": delivered.message_id,
            "confirmed": delivered.confirmed,
            "sent_earlier": delivered.found_earlier or not delivered.confirmed,
        },
        recorded_input={**recorded, "delivery": "sent"},
    )


def _mark_delivery(ctx: StepContext, recorded: dict) -> None:
    """Committed at once (the executor runs a step outside any transaction)."""
    WorkflowStepRun.objects.filter(pk=ctx.step_run.pk).update(input=recorded)
    ctx.step_run.input = recorded


def run_approval(step: dict, ctx: StepContext) -> StepResult:
    message = render(step["message"], ctx) if step.get("message") else "Approve to continue."
    return StepResult(output={"message": message}, wait=True)


RUNNERS = {
    "prompt": run_prompt,
    "retrieve": run_retrieve,
    "ask_assistant": run_ask_assistant,
    "condition": run_condition,
    "transform": run_transform,
    "http_request": run_http_request,
    "save_document": run_save_document,
    "notify": run_notify,
    "approval": run_approval,
}

"""The AI gateway: the one way the platform calls an AI model.

Resolves the organization's credential (or the platform default), builds the
provider adapter, applies the fallback model, prices the call from the catalog
and writes one usage row per provider call. Chat, ingestion, workflows and
integrations call these functions, never an SDK.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import aclosing
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache

from django.conf import settings

from assistants.catalog.models import AIModel, Provider
from assistants.models import ProviderCredential
from assistants.providers.base import (
    ChatProvider,
    ChatRequest,
    ChatResult,
    EmbeddingResult,
    FallbackUsed,
    ProviderConfig,
    StreamEvent,
    Usage,
    UsageEvent,
)
from assistants.providers.cost import cost_for
from assistants.providers.errors import AuthenticationFailed
from assistants.providers.fallback import (
    Target,
    astream_with_fallback,
    complete_with_fallback,
    stream_with_fallback,
)
from assistants.providers.registry import get_provider
from assistants.providers.rerank import PROVIDER as RERANK_PROVIDER
from assistants.providers.rerank import RerankerConfig
from assistants.providers.rerank import rerank as rerank_call
from assistants.providers.tokens import approximate_tokens
from billing import quotas
from billing.models import Channel, UsageKind, UsageRecord
from core import crypto, metrics
from core.tenancy import require_tenant_schema

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class UsageContext:
    """Who a call is made for; copied onto its usage row."""

    organization: object  # users.models.Organization
    # A person, or the request user of an API key (then the key is recorded).
    user: object | None = None
    assistant_id: object | None = None
    channel: str = Channel.WEB
    api_key: object | None = None  # integrations.models.APIKey

    @property
    def caller_key(self):
        return self.api_key or getattr(self.user, "api_key", None)


@dataclass
class PricedResult:
    result: ChatResult
    model: AIModel
    cost: Decimal
    usage_record: UsageRecord
    fell_back: bool = False


@dataclass
class StreamOutcome:
    """Filled in while a stream is consumed: which model answered, usage and cost."""

    model: AIModel
    usage: Usage | None = None
    cost: Decimal = Decimal("0")
    usage_record: UsageRecord | None = None
    fell_back: bool = False
    extra: dict = field(default_factory=dict)


# -- credentials --------------------------------------------------------------


def provider_config_for(
    *, provider: str, credential: ProviderCredential | None = None
) -> ProviderConfig:
    """The organization's credential for ``provider``, else the platform default. The row
    is read on every call, never cached: a changed or deleted key applies at once."""
    timeout, retries = settings.AI_REQUEST_TIMEOUT, settings.AI_MAX_RETRIES
    if provider == Provider.LOCAL:
        return ProviderConfig(provider=provider, timeout=timeout, max_retries=retries)
    if credential is None:
        require_tenant_schema()
        credential = ProviderCredential.objects.filter(provider=provider).first()
    if credential is not None:
        return ProviderConfig(
            provider=provider,
            # Remembered per ciphertext: a changed key is another ciphertext.
            api_key=crypto.decrypt_cached(credential.api_key_encrypted)
            if credential.api_key_encrypted
            else None,
            base_url=credential.base_url or None,
            organization=credential.organization_id or None,
            timeout=timeout,
            max_retries=retries,
        )
    default = settings.AI_DEFAULT_CREDENTIALS.get(provider, {})
    if not default.get("api_key") and not (
        provider == Provider.OPENAI_COMPATIBLE and default.get("base_url")
    ):
        raise AuthenticationFailed(
            f"No credential for {provider}: an admin must add one under provider credentials.",
            provider=provider,
        )
    return ProviderConfig(
        provider=provider,
        api_key=default.get("api_key") or None,
        base_url=default.get("base_url") or None,
        organization=default.get("organization") or None,
        timeout=timeout,
        max_retries=retries,
    )


def provider_for(model: AIModel) -> ChatProvider:
    return _provider(provider_config_for(provider=model.provider))


@lru_cache(maxsize=256)
def _provider(config: ProviderConfig) -> ChatProvider:
    """One adapter (and SDK client, with its connection pool and TLS context) per
    distinct configuration, reused across calls and threads: building an SDK client
    costs tens of milliseconds, on every answer's time to first token otherwise.
    A changed key or base URL is a different configuration, hence a new client."""
    return get_provider(config)


# -- accounting ---------------------------------------------------------------


def _usage_row(*, model: AIModel, usage: Usage, kind: str, context: UsageContext) -> UsageRecord:
    """A call's ledger row, priced from the catalog, not yet stored."""
    return UsageRecord(
        organization=context.organization,
        assistant_id=context.assistant_id,
        user=context.user if getattr(context.user, "pk", None) else None,
        api_key=context.caller_key,
        channel=context.channel,
        kind=kind,
        provider=model.provider,
        model_id=model.model_id,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
        tokens_estimated=usage.estimated,
        input_price_per_million=model.input_price_per_million,
        output_price_per_million=model.output_price_per_million,
        currency=model.currency,
        cost=cost_for(usage, model.input_price_per_million, model.output_price_per_million),
    )


def _record_usage(*, model: AIModel, usage: Usage, kind: str, context: UsageContext) -> UsageRecord:
    quotas.tokens_count(context.organization, usage.total_tokens, api_key=context.caller_key)
    row = _usage_row(model=model, usage=usage, kind=kind, context=context)
    row.save(force_insert=True)
    return row


def _with_model(request: ChatRequest, model: AIModel) -> ChatRequest:
    values = dict(request.__dict__)
    values["model"] = model.model_id
    if not model.supports_temperature:
        values["temperature"] = None
        values["top_p"] = None
    if model.max_output_tokens and values.get("max_tokens"):
        values["max_tokens"] = min(values["max_tokens"], model.max_output_tokens)
    return ChatRequest(**values)


# -- calls --------------------------------------------------------------------


def _lazy_target(model: AIModel | None, request: ChatRequest, used: list):
    """The fallback target, built (credential resolved) only if it is needed."""
    if model is None:
        return None

    def build() -> Target:
        used.append(model)
        return Target(provider_for(model), _with_model(request, model))

    return build


def ai_chat_complete(
    *, model: AIModel, request: ChatRequest, context: UsageContext, fallback: AIModel | None = None
) -> PricedResult:
    """One non-streamed answer, priced and recorded against the model that answered."""
    quotas.quota_check_ai(context.organization, api_key=context.caller_key)
    fell_back: list[AIModel] = []
    primary = Target(provider_for(model), _with_model(request, model))
    with metrics.provider_call(model.provider, "chat"):
        result = complete_with_fallback(primary, _lazy_target(fallback, request, fell_back))
    used = fell_back[0] if fell_back else model
    record = _record_usage(model=used, usage=result.usage, kind=UsageKind.CHAT, context=context)
    return PricedResult(result, used, record.cost, record, fell_back=bool(fell_back))


@dataclass
class StreamPlan:
    """Everything a stream needs, resolved up front (credentials are read from the
    database here), so that streaming itself touches no database."""

    model: AIModel
    primary: Target
    fallback_model: AIModel | None = None
    fallback: Target | None = None


def ai_stream_plan(
    *, model: AIModel, request: ChatRequest, context: UsageContext, fallback: AIModel | None = None
) -> StreamPlan:
    """Checks the quotas of ``context``'s organization: refused before any call."""
    quotas.quota_check_ai(context.organization, api_key=context.caller_key)
    plan = StreamPlan(model=model, primary=Target(provider_for(model), _with_model(request, model)))
    if fallback is not None:
        try:
            plan.fallback = Target(provider_for(fallback), _with_model(request, fallback))
            plan.fallback_model = fallback
        except AuthenticationFailed:
            logger.warning(
                "fallback model %s has no credential; streaming without it", fallback.key
            )
    return plan


def ai_chat_stream(*, plan: StreamPlan, outcome: StreamOutcome) -> Iterator[StreamEvent]:
    """Stream an answer without touching the database: the caller may run it in any
    thread while holding no connection, and records usage afterwards with
    ``ai_record_stream_usage``. ``outcome`` learns which model answered and its usage.
    """
    with metrics.provider_stream(plan.model.provider) as first_event:
        for event in stream_with_fallback(plan.primary, plan.fallback):
            first_event()
            if isinstance(event, FallbackUsed) and plan.fallback_model is not None:
                outcome.model, outcome.fell_back = plan.fallback_model, True
            elif isinstance(event, UsageEvent):
                outcome.usage = event.usage
            yield event


async def ai_chat_astream(
    *, plan: StreamPlan, outcome: StreamOutcome
) -> AsyncIterator[StreamEvent]:
    """``ai_chat_stream`` over the providers' async clients: the same events and
    ``outcome``, and no thread is held while the provider is waited on. It touches no
    database (the plan resolved the credentials), so it may run on the event loop itself.
    Close it (``contextlib.aclosing``) when stopping early, to end the provider's stream.
    """
    with metrics.provider_stream(plan.model.provider) as first_event:
        async with aclosing(astream_with_fallback(plan.primary, plan.fallback)) as events:
            async for event in events:
                first_event()
                if isinstance(event, FallbackUsed) and plan.fallback_model is not None:
                    outcome.model, outcome.fell_back = plan.fallback_model, True
                elif isinstance(event, UsageEvent):
                    outcome.usage = event.usage
                yield event


def ai_record_stream_usage(*, outcome: StreamOutcome, context: UsageContext) -> UsageRecord | None:
    """Write the ledger row of a finished (or cut short) stream."""
    ai_record_stream_usages(finished=[(outcome, context)])
    return outcome.usage_record


def ai_record_stream_usages(*, finished: list[tuple[StreamOutcome, UsageContext]]) -> None:
    """The ledger rows of many finished streams: ``ai_stream_usage_rows`` then
    ``ai_usage_rows_store``."""
    ai_usage_rows_store(rows=ai_stream_usage_rows(finished=finished))


def ai_stream_usage_rows(*, finished: list[tuple[StreamOutcome, UsageContext]]) -> list:
    """Price finished (or cut short) streams from the catalog: each outcome learns its cost
    and its ledger row, not stored yet (``ai_usage_rows_store``); one without usage (the
    stream never started) gets none. Chat prices the answers that ended together, stores
    them, then their ledger rows, in one transaction (chat/finishing.py)."""
    rows = []
    for outcome, context in finished:
        if outcome.usage is None:
            continue
        row = _usage_row(
            model=outcome.model, usage=outcome.usage, kind=UsageKind.CHAT, context=context
        )
        outcome.usage_record, outcome.cost = row, row.cost
        rows.append(row)
    return rows


def ai_usage_rows_store(*, rows: list[UsageRecord]) -> None:
    """Ledger rows in one INSERT, then their tokens in this minute's windows in one Redis
    round trip. Last in the caller's transaction: a batch that failed before it counted no
    tokens (it is stored again, and counted then)."""
    if not rows:
        return
    UsageRecord.objects.bulk_create(rows)
    quotas.tokens_count_many([(row.organization, row.total_tokens, row.api_key) for row in rows])


def ai_embed(*, model: AIModel, texts: list[str], context: UsageContext) -> EmbeddingResult:
    """Embed a batch of texts, priced and recorded."""
    quotas.quota_check_ai(context.organization, api_key=context.caller_key)
    with metrics.provider_call(model.provider, "embedding"):
        result = provider_for(model).embed(model.model_id, texts)
    _record_usage(model=model, usage=result.usage, kind=UsageKind.EMBEDDING, context=context)
    return result


# Helper threads for embeddings started ahead of their use (``ai_embed_start``): a query's
# embedding is a short call, and a web worker prepares at most CHAT_PREPARING_MAX turns at
# once; more threads than that would wait for the cores anyway.
EMBED_AHEAD_THREADS = 4
_embed_ahead: ThreadPoolExecutor | None = None
_embed_ahead_lock = threading.Lock()


def _embed_ahead_pool() -> ThreadPoolExecutor:
    global _embed_ahead
    with _embed_ahead_lock:
        if _embed_ahead is None:
            _embed_ahead = ThreadPoolExecutor(
                max_workers=EMBED_AHEAD_THREADS, thread_name_prefix="embed-ahead"
            )
        return _embed_ahead


def _forget_embed_ahead_in_child() -> None:
    # A forked child has none of its parent's threads: it starts a pool of its own.
    global _embed_ahead, _embed_ahead_lock
    _embed_ahead, _embed_ahead_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_embed_ahead_in_child)


class PendingEmbedding:
    """An embedding being computed in a helper thread (``ai_embed_start``). ``result()``
    waits for it and records it in the ledger, once, on the caller's thread and database
    connection (and transaction), as ``ai_embed`` does."""

    def __init__(self, future: Future, model: AIModel, context: UsageContext) -> None:
        self._future, self._model, self._context = future, model, context
        self._result: EmbeddingResult | None = None

    def vectors(self) -> list[list[float]]:
        """The vectors once made, from any thread, recording nothing (the provider's
        error if it failed): for work that needs the vectors before the caller takes
        ``result()`` (a hybrid search's vector half on its second connection)."""
        return self._future.result().vectors

    def result(self) -> EmbeddingResult:
        if self._result is None:
            result = self._future.result()  # the provider's error, if it failed
            _record_usage(
                model=self._model,
                usage=result.usage,
                kind=UsageKind.EMBEDDING,
                context=self._context,
            )
            self._result = result
        return self._result

    def settle(self) -> None:
        """For a caller giving up (its own work failed): the call was made, so it is
        still recorded when it succeeded; nothing is raised from here."""
        with contextlib.suppress(Exception):
            self.result()


def ai_embed_start(*, model: AIModel, texts: list[str], context: UsageContext) -> PendingEmbedding:
    """``ai_embed`` in two halves, for a caller with other work to do meanwhile (a hybrid
    search runs its keyword half while the query is embedded): the quota is checked, the
    credential read and the provider called (in a helper thread) now; ``result()`` waits
    for the vectors and writes the ledger row. Only the provider call leaves this thread.
    A caller that does not reach ``result()`` must call ``settle()``."""
    quotas.quota_check_ai(context.organization, api_key=context.caller_key)
    provider = provider_for(model)

    def call() -> EmbeddingResult:
        with metrics.provider_call(model.provider, "embedding"):
            return provider.embed(model.model_id, texts)

    return PendingEmbedding(_embed_ahead_pool().submit(call), model, context)


def ai_embed_batches(
    *, model: AIModel, batches: list[list[str]], context: UsageContext
) -> Iterator[EmbeddingResult]:
    """Embed batches in order, each checked, priced and recorded like ``ai_embed``; the
    provider call of the next batch runs (in one helper thread) while the caller handles
    the result just yielded, so the caller's database writes overlap the embedding.

    Only the provider call leaves this thread: quotas, credentials and the ledger use
    the caller's database connection (and transaction). A quota refusal or a provider
    error surfaces at the batch it concerns; the batches before it were yielded."""
    from concurrent.futures import ThreadPoolExecutor

    provider = provider_for(model)

    def call(texts: list[str]) -> EmbeddingResult:
        with metrics.provider_call(model.provider, "embedding"):
            return provider.embed(model.model_id, texts)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed") as pool:
        running = None
        for texts in batches:
            try:
                quotas.quota_check_ai(context.organization, api_key=context.caller_key)
            except Exception:
                if running is not None:  # embedded already: recorded and handed over
                    yield _embedded(running.result(), model, context)
                raise
            started = pool.submit(call, texts)
            if running is not None:
                yield _embedded(running.result(), model, context)
            running = started
        if running is not None:
            yield _embedded(running.result(), model, context)


def _embedded(result: EmbeddingResult, model: AIModel, context: UsageContext) -> EmbeddingResult:
    _record_usage(model=model, usage=result.usage, kind=UsageKind.EMBEDDING, context=context)
    return result


# -- reranking ----------------------------------------------------------------


def reranker_config_for(reranker) -> RerankerConfig:
    """The HTTP settings of an organization's ``assistants.Reranker`` (key decrypted)."""
    return RerankerConfig(
        api_format=reranker.api_format,
        base_url=reranker.base_url,
        model=reranker.model,
        api_key=crypto.decrypt(reranker.api_key_encrypted) if reranker.api_key_encrypted else None,
        timeout=settings.RERANK_TIMEOUT_SECONDS,
    )


def ai_rerank(
    *, reranker, query: str, documents: list[str], top_n: int, context: UsageContext
) -> dict[int, float]:
    """Scores of ``documents`` for ``query`` by the organization's reranker, timed
    (provider latency metric, kind ``rerank``) and recorded in the usage ledger (kind
    ``rerank``, tokens estimated: rerankers report none in a common form; no catalog
    price, so no cost, and no token quota: the organization's own server does the work).
    Raises a ProviderError when the reranker fails; the caller decides what that means."""
    config = reranker_config_for(reranker)
    with metrics.provider_call(RERANK_PROVIDER, "rerank"):
        scores = rerank_call(config, query=query, documents=documents, top_n=top_n)
    tokens = approximate_tokens(query) * len(documents) + sum(map(approximate_tokens, documents))
    UsageRecord.objects.create(
        organization=context.organization,
        assistant_id=context.assistant_id,
        user=context.user if getattr(context.user, "pk", None) else None,
        api_key=context.caller_key,
        channel=context.channel,
        kind=UsageKind.RERANK,
        provider=RERANK_PROVIDER,
        model_id=(reranker.model or reranker.name)[:120],
        prompt_tokens=tokens,
        total_tokens=tokens,
        tokens_estimated=True,
        input_price_per_million=Decimal("0"),
        output_price_per_million=Decimal("0"),
    )
    return scores

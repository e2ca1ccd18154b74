"""The optional reranking stage (ADR 0100): the best fused candidates go to a
cross-encoder served over HTTP (``assistants.Reranker``), which scores each against the
query; they are reordered by that score before ``top_k`` are kept.

A reranker that fails (timeout, HTTP error, malformed answer, refused address) never
fails the search: the candidates keep their fused order, the failure is logged (without
the key) and the outcome says the reranking did not apply.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from assistants import gateway
from assistants.providers.errors import ProviderError, ProviderTimeout
from billing.models import Channel
from knowledge_base.retrieval.hits import Hit

logger = logging.getLogger(__name__)

DEFAULT_CANDIDATES = 30
MAX_CANDIDATES = 100
# Characters of a chunk sent to the reranker: cross-encoders read ~512 tokens at most.
MAX_DOCUMENT_CHARS = 4000


@dataclass(frozen=True)
class Rerank:
    """What to rerank with: an ``assistants.Reranker`` and how many candidates."""

    reranker: object
    candidates: int = DEFAULT_CANDIDATES


@dataclass(frozen=True)
class RerankOutcome:
    applied: bool
    reranker_id: str = ""
    candidates: int = 0
    latency_ms: int = 0
    # Why it did not apply: "timeout", "error" (the reranker failed), "" when applied.
    skipped_reason: str = ""


def _document(hit: Hit) -> str:
    header = " > ".join(part for part in (hit.document_title, hit.section) if part)
    text = f"{header}\n{hit.text}" if header else hit.text
    return text[:MAX_DOCUMENT_CHARS]


def rerank_hits(
    hits: list[Hit], *, query: str, rerank: Rerank, top_n: int, usage: gateway.UsageContext
) -> tuple[list[Hit], RerankOutcome]:
    """``hits`` (best first) reordered by the reranker's scores, each scored hit with its
    ``rerank_score``; candidates the reranker left out (a Cohere-style server returns its
    best ``top_n``) follow in their fused order. On failure, ``hits`` unchanged."""
    reranker = rerank.reranker
    if not hits:
        return hits, RerankOutcome(applied=False, reranker_id=str(reranker.pk))
    started = time.perf_counter()
    try:
        scores = gateway.ai_rerank(
            reranker=reranker,
            query=query,
            documents=[_document(hit) for hit in hits],
            top_n=min(top_n, len(hits)),
            context=usage,
        )
    except ProviderError as error:
        elapsed = round((time.perf_counter() - started) * 1000)
        reason = "timeout" if isinstance(error, ProviderTimeout) else "error"
        # The error's detail is redacted (no key); the reranker is named by its id.
        logger.warning(
            "reranker %s failed (%s: %s) after %d ms; keeping the fused order",
            reranker.pk,
            type(error).__name__,
            error.detail,
            elapsed,
        )
        return hits, RerankOutcome(
            applied=False,
            reranker_id=str(reranker.pk),
            candidates=len(hits),
            latency_ms=elapsed,
            skipped_reason=reason,
        )
    elapsed = round((time.perf_counter() - started) * 1000)
    for index, score in scores.items():
        hits[index].rerank_score = score
    order = sorted(
        range(len(hits)),
        key=lambda i: (i not in scores, -scores.get(i, 0.0), i),
    )
    return [hits[i] for i in order], RerankOutcome(
        applied=True, reranker_id=str(reranker.pk), candidates=len(hits), latency_ms=elapsed
    )


def usage_context(usage, *, organization, user) -> gateway.UsageContext:
    return usage or gateway.UsageContext(organization=organization, user=user, channel=Channel.WEB)

"""Remote rerankers: the two wire formats of ``POST {base_url}/rerank`` (ADR 0100).

- ``cohere`` (Cohere, Jina, vLLM and most hosted rerankers): request
  ``{model, query, documents, top_n}``, response ``{results: [{index, relevance_score}]}``;
- ``tei`` (Hugging Face text-embeddings-inference): request ``{query, texts}``, response
  ``[{index, score}]``.

Every request goes through the outbound HTTP policy (``core.outbound.client``): the
base URL is a tenant's choice. Errors are the provider errors of the AI layer, with the
key scrubbed from their detail.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import httpx2

from assistants.providers.errors import (
    AuthenticationFailed,
    InvalidRequest,
    MalformedResponse,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from core import outbound

COHERE = "cohere"
TEI = "tei"
PROVIDER = "reranker"  # the provider name on errors, metrics and usage rows


@dataclass(frozen=True)
class RerankerConfig:
    api_format: str
    base_url: str
    model: str = ""
    api_key: str | None = None
    timeout: float = 5.0


def _request(config: RerankerConfig, query: str, documents: list[str], top_n: int) -> dict | list:
    if config.api_format == TEI:
        return {"query": query, "texts": documents, "truncate": True, "raw_scores": False}
    body: dict = {"query": query, "documents": documents, "top_n": top_n}
    if config.model:
        body["model"] = config.model
    return body


def _scores(config: RerankerConfig, payload, count: int) -> dict[int, float]:
    """Score by candidate index; MalformedResponse for anything else than the format."""
    items = payload if config.api_format == TEI else (payload or {}).get("results")
    field = "score" if config.api_format == TEI else "relevance_score"
    if not isinstance(items, list):
        raise MalformedResponse("The reranker's answer has no list of results.", provider=PROVIDER)
    scores: dict[int, float] = {}
    for item in items:
        try:
            index, score = int(item["index"]), float(item[field])
        except (TypeError, KeyError, ValueError):
            raise MalformedResponse(
                f"A reranker result lacks its index or {field}.", provider=PROVIDER
            ) from None
        if not 0 <= index < count:
            raise MalformedResponse("A reranker result names no candidate.", provider=PROVIDER)
        scores[index] = score
    return scores


def _error_for(response: httpx2.Response) -> ProviderError:
    detail = f"The reranker answered HTTP {response.status_code}."
    kwargs = {"provider": PROVIDER, "status_code": response.status_code}
    if response.status_code in (401, 403):
        return AuthenticationFailed(detail, **kwargs)
    if response.status_code == 429:
        return RateLimited(detail, **kwargs)
    if 400 <= response.status_code < 500:
        return InvalidRequest(detail, **kwargs)
    return ProviderUnavailable(detail, **kwargs)


@lru_cache(maxsize=4)
def _client(policy: outbound.Policy) -> httpx2.Client:
    """One policy-bound client per process (and per policy: a changed policy gets new
    connections, each checked again). Building one costs ~100 ms of TLS context set-up
    on a busy machine, and its keep-alive connections save a handshake per search."""
    return outbound.client(timeout=10.0)


def rerank(
    config: RerankerConfig, *, query: str, documents: list[str], top_n: int
) -> dict[int, float]:
    """The reranker's relevance score of each document it scored, by index in
    ``documents`` (Cohere-style servers return the best ``top_n`` only)."""
    headers = {"Accept": "application/json"}
    if config.api_key:
        headers["Authorization"] = f"Bearer {config.api_key}"
    url = config.base_url.rstrip("/") + "/rerank"
    try:
        response = _client(outbound.current_policy()).post(
            url,
            json=_request(config, query, documents, top_n),
            headers=headers,
            timeout=config.timeout,
        )
    except httpx2.TimeoutException:
        raise ProviderTimeout("The reranker took too long to answer.", provider=PROVIDER) from None
    except httpx2.HTTPError as exc:
        error = ProviderUnavailable(str(exc) or type(exc).__name__, provider=PROVIDER)
        error.redact(config.api_key)
        raise error from None
    if response.status_code >= 400:
        raise _error_for(response)
    try:
        payload = response.json()
    except ValueError:
        raise MalformedResponse("The reranker's answer is not JSON.", provider=PROVIDER) from None
    return _scores(config, payload, len(documents))

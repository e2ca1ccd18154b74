"""The search entry point: vector, keyword or both fused, then the hits shown read once
(text, title, page, snippet: hydration.py)."""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import wait
from dataclasses import dataclass, field
from enum import StrEnum

from core.tenancy import require_tenant_schema
from knowledge_base.models import Collection
from knowledge_base.retrieval import second_connection, vector
from knowledge_base.retrieval.fusion import reciprocal_rank_fusion
from knowledge_base.retrieval.hits import Hit, SearchFilters
from knowledge_base.retrieval.hydration import hydrate
from knowledge_base.retrieval.keyword import keyword_ranking, keyword_search
from knowledge_base.retrieval.rerank import Rerank, RerankOutcome, rerank_hits, usage_context

MAX_TOP_K = 100  # evaluation runs read deep lists; assistants use at most 50
# With collapse=document, candidate lists this many times deeper (documents have chunks).
COLLAPSE_DEPTH = 4


class SearchMode(StrEnum):
    VECTOR = "vector"
    KEYWORD = "keyword"
    HYBRID = "hybrid"


@dataclass(frozen=True)
class SearchParams:
    query: str
    collections: list[Collection]
    mode: SearchMode = SearchMode.HYBRID
    top_k: int = 8
    filters: SearchFilters = field(default_factory=SearchFilters)
    vector_weight: float = 1.0
    keyword_weight: float = 1.0
    # The least cosine similarity between the query and a chunk, in every mode (keyword
    # hits are checked against their embedding too); 0 keeps everything.
    min_score: float = 0.0
    # Best chunk per document only; top_k then counts documents.
    collapse: bool = False
    # Reorder the best ``rerank.candidates`` by a cross-encoder (ADR 0100); None: no.
    rerank: Rerank | None = None
    # Highlighted snippets (ts_headline, in the statement that reads the hits shown): for people reading results;
    # a chat turn puts the chunks' text in the prompt and shows no snippet.
    snippets: bool = True

    @property
    def pool(self) -> int:
        """Candidates per list: fusion, the score floor and collapsing need deeper lists
        than top_k."""
        depth = self.top_k * (COLLAPSE_DEPTH if self.collapse else 1)
        if self.mode == SearchMode.HYBRID or self.min_score > 0:
            depth = max(depth * 4, 40)
        return max(depth, self.rerank_depth)

    @property
    def rerank_depth(self) -> int:
        """Candidates the reranker reads: its setting, and never fewer than returned."""
        if self.rerank is None:
            return 0
        return max(self.rerank.candidates, self.top_k * (COLLAPSE_DEPTH if self.collapse else 1))


@dataclass
class SearchResult:
    hits: list[Hit]
    # None when no reranking was asked for.
    rerank: RerankOutcome | None = None


def _vector_candidates(params: SearchParams, embeddings: dict) -> list[Hit]:
    """The best ``pool`` chunks by cosine similarity, across the collections' embedding
    models (one query embedding and one index search per model)."""
    groups: dict[int, list] = defaultdict(list)
    for collection in params.collections:
        groups[collection.embedding_model_id].append(collection)
    hits: list[Hit] = []
    for model_id, group in groups.items():
        hits += vector.vector_search(
            embedding=embeddings[model_id],
            dimensions=group[0].embedding_dimensions,
            collection_ids=[c.id for c in group],
            limit=params.pool,
            filters=params.filters,
            with_text=False,
        )
    for hit in hits:
        hit.similarity = hit.score
    return sorted(hits, key=lambda h: h.score, reverse=True)[: params.pool]


def _keyword_candidates(params: SearchParams) -> list[Hit]:
    """The best ``pool`` chunks by BM25. Located (document, collection) only when
    collapsing or the score floor needs it before the hits shown are read."""
    arguments = {
        "query": params.query,
        "collection_ids": [c.id for c in params.collections],
        "limit": params.pool,
        "filters": params.filters,
    }
    if params.collapse or params.min_score > 0:
        return keyword_search(**arguments, with_text=False)
    return [
        Hit(
            chunk_id=chunk_id,
            document_id="",
            document_title="",
            collection_id="",
            text="",
            page=None,
            section="",
            score=score,
        )
        for chunk_id, score in keyword_ranking(**arguments)
    ]


def _above_floor(params: SearchParams, hits: list[Hit], embeddings: dict) -> list[Hit]:
    """The hits whose cosine similarity to the query reaches ``min_score`` (computed for
    keyword hits from their stored embeddings: one statement per embedding model)."""
    if params.min_score <= 0:
        return hits
    missing = [h for h in hits if h.similarity is None]
    if missing:
        by_collection = {str(c.id): c for c in params.collections}
        groups: dict[int, list[Hit]] = defaultdict(list)
        for hit in missing:
            groups[by_collection[hit.collection_id].embedding_model_id].append(hit)
        for model_id, group in groups.items():
            dimensions = next(
                c.embedding_dimensions
                for c in params.collections
                if c.embedding_model_id == model_id
            )
            found = vector.similarities(
                embedding=embeddings[model_id],
                dimensions=dimensions,
                chunk_ids=[h.chunk_id for h in group],
            )
            for hit in group:
                hit.similarity = found.get(hit.chunk_id, 0.0)
    return [h for h in hits if (h.similarity or 0.0) >= params.min_score]


def _collapsed(hits: list[Hit]) -> list[Hit]:
    """The first (best) hit of each document, in order."""
    seen: set[str] = set()
    kept = []
    for hit in hits:
        if hit.document_id not in seen:
            seen.add(hit.document_id)
            kept.append(hit)
    return kept


def _embeddings_and_keyword_hits(
    params: SearchParams, organization, user, usage
) -> tuple[dict, list[Hit] | None, list[Hit] | None]:
    """The query's embeddings (when the mode or the score floor needs them), the keyword
    candidates (unless the mode is vector) and, in hybrid mode, the vector candidates.

    When both are needed the query is embedded in a helper thread while the keyword
    search runs here (ADR 0104); in hybrid mode the vector half (the embedding, then the
    HNSW search) runs on a second connection meanwhile when it may (ADR 0114), else
    after the keyword half. Either way the embedding is recorded here, on the caller's
    connection, once the keyword half is done; when that half fails, an embedding that
    was made is still recorded, and the keyword half's error is raised."""
    wants_vectors = params.mode != SearchMode.KEYWORD or params.min_score > 0
    if params.mode == SearchMode.VECTOR or not wants_vectors:
        embeddings = (
            vector.embed_query(params.query, params.collections, organization, user, usage)
            if wants_vectors
            else {}
        )
        if params.mode == SearchMode.VECTOR:
            return embeddings, None, _vector_candidates(params, embeddings)
        return embeddings, _keyword_candidates(params), None
    pending = vector.embed_query_start(params.query, params.collections, organization, user, usage)
    beside = None
    if params.mode == SearchMode.HYBRID and second_connection.available():
        beside = second_connection.submit(lambda: _vector_candidates(params, pending.vectors()))
    try:
        keyword_hits = _keyword_candidates(params)
    except BaseException:
        if beside is not None:
            wait([beside])  # nothing is left running on this search's behalf
        pending.settle()  # an embedding that was made is still recorded
        raise
    if beside is None:
        embeddings = pending.result()
        dense = _vector_candidates(params, embeddings) if params.mode == SearchMode.HYBRID else None
        return embeddings, keyword_hits, dense
    try:
        dense = beside.result()
    except BaseException:
        pending.result()  # the provider's error when the embedding failed; else recorded
        raise
    return pending.result(), keyword_hits, dense


def _ranked(params: SearchParams, organization, user, usage) -> SearchResult:
    embeddings, sparse, dense = _embeddings_and_keyword_hits(params, organization, user, usage)
    if params.mode == SearchMode.VECTOR:
        hits = dense
    elif params.mode == SearchMode.KEYWORD:
        hits = sparse
    else:
        if params.collapse:
            # Documents are ranked: each list by its best chunk per document, then a
            # document's two ranks fused, whichever chunks they came from.
            dense, sparse = _collapsed(dense), _collapsed(sparse)
        hits = reciprocal_rank_fusion(
            [(dense, params.vector_weight), (sparse, params.keyword_weight)],
            limit=params.pool,
            by_document=params.collapse,
        )
    hits = _above_floor(params, hits, embeddings)
    outcome = None
    if params.rerank is not None:
        hits, outcome = rerank_hits(
            hydrate(hits[: params.rerank_depth]),
            query=params.query,
            rerank=params.rerank,
            top_n=params.top_k * (COLLAPSE_DEPTH if params.collapse else 1),
            usage=usage_context(usage, organization=organization, user=user),
        )
    if params.collapse:
        hits = _collapsed(hits)
    shown = _shown(hits, params.top_k, params.query if params.snippets else None)
    return SearchResult(shown, outcome)


def _shown(hits: list[Hit], top_k: int, query: str | None) -> list[Hit]:
    """The first ``top_k`` hits with their text, parent sections (and, given the query,
    snippets), read in one statement (a chunk deleted since it was ranked is skipped and
    the next one takes its place)."""
    shown: list[Hit] = []
    position = 0
    while len(shown) < top_k and position < len(hits):
        batch = hits[position : position + top_k - len(shown)]
        position += len(batch)
        shown += _hydrated(batch, query)
    return shown


# Hits from which the snippets are split between two connections (ADR 0114).
SPLIT_SNIPPETS_FROM = 4


def _hydrated(batch: list[Hit], query: str | None) -> list[Hit]:
    """``hydrate`` with parents; with snippets (``ts_headline`` is most of that
    statement's time), the second half of the batch on a second connection meanwhile."""
    if query is None or len(batch) < SPLIT_SNIPPETS_FROM or not second_connection.available():
        return hydrate(batch, snippets_for=query, parents=True)
    half = len(batch) // 2
    other = second_connection.submit(
        lambda: hydrate(batch[half:], snippets_for=query, parents=True)
    )
    try:
        first = hydrate(batch[:half], snippets_for=query, parents=True)
    except BaseException:
        wait([other])
        raise
    return first + other.result()


def search_with_outcome(
    params: SearchParams, *, organization, user=None, usage=None
) -> SearchResult:
    """The best chunks for ``params``, and whether reranking applied. The query's
    embedding (and the reranking) is recorded for ``usage`` (a ``gateway.UsageContext``:
    the turn's channel, assistant, API key) when given, else for ``user`` on the web."""
    require_tenant_schema()
    if not 1 <= params.top_k <= MAX_TOP_K:
        raise ValueError(f"top_k must be between 1 and {MAX_TOP_K}")
    if not params.collections or not params.query.strip():
        return SearchResult([])
    return _ranked(params, organization, user, usage)


def search(params: SearchParams, *, organization, user=None, usage=None) -> list[Hit]:
    """The best chunks for ``params`` (``search_with_outcome`` without the outcome)."""
    return search_with_outcome(params, organization=organization, user=user, usage=usage).hits

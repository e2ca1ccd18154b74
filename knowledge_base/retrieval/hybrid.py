"""The search entry point: vector, keyword or both fused, then snippets."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from enum import StrEnum

from core.tenancy import require_tenant_schema
from knowledge_base.models import Collection
from knowledge_base.retrieval import vector
from knowledge_base.retrieval.fusion import reciprocal_rank_fusion
from knowledge_base.retrieval.hits import Hit, SearchFilters
from knowledge_base.retrieval.keyword import keyword_search
from knowledge_base.retrieval.snippets import add_snippets

MAX_TOP_K = 50


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
    min_score: float = 0.0

    @property
    def pool(self) -> int:
        """Candidates per list: fusion needs deeper lists than top_k."""
        return self.top_k if self.mode != SearchMode.HYBRID else max(self.top_k * 4, 40)


def _vector_candidates(params: SearchParams, organization, user) -> list[Hit]:
    """The best ``pool`` chunks by cosine similarity, across the collections' embedding
    models (one query embedding and one index search per model)."""
    embeddings = vector.embed_query(params.query, params.collections, organization, user)
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
        )
    return sorted(hits, key=lambda h: h.score, reverse=True)[: params.pool]


def _keyword_candidates(params: SearchParams) -> list[Hit]:
    return keyword_search(
        query=params.query,
        collection_ids=[c.id for c in params.collections],
        limit=params.pool,
        filters=params.filters,
    )


def _ranked(params: SearchParams, organization, user) -> list[Hit]:
    if params.mode == SearchMode.VECTOR:
        hits = _vector_candidates(params, organization, user)
        return [h for h in hits if h.score >= params.min_score][: params.top_k]
    if params.mode == SearchMode.KEYWORD:
        return _keyword_candidates(params)[: params.top_k]
    vector_hits = _vector_candidates(params, organization, user)
    keyword_hits = _keyword_candidates(params)
    return reciprocal_rank_fusion(
        [(vector_hits, params.vector_weight), (keyword_hits, params.keyword_weight)],
        limit=params.top_k,
    )


def search(params: SearchParams, *, organization, user=None) -> list[Hit]:
    require_tenant_schema()
    if not 1 <= params.top_k <= MAX_TOP_K:
        raise ValueError(f"top_k must be between 1 and {MAX_TOP_K}")
    if not params.collections or not params.query.strip():
        return []
    hits = _ranked(params, organization, user)
    add_snippets(hits, params.query)
    return hits

"""Search over an organization's chunks: vector, keyword and hybrid.

- vector (vector.py): cosine distance on the per-dimension HNSW index
  (vector_indexes.py), with pgvector's iterative index scan so filters still
  return top_k rows;
- keyword (keyword.py): BM25 over PostgreSQL's full-text index for plain
  questions, websearch syntax (quotes, -word, OR) applied exactly otherwise;
- hybrid (fusion.py): reciprocal rank fusion of both candidate lists, with weights;
- rerank (rerank.py): optionally, the best fused candidates reordered by a remote
  cross-encoder (ADR 0100), the fused order kept when it fails.

``search`` (hybrid.py) is the entry point. Only chunks of completed documents are
searched. Every hit (hits.py) carries the chunk id, text, document title, page,
section, score and a highlighted snippet (snippets.py); in a parent-child collection
also the parent section the chunk was cut from (read with the hit: hydration.py,
ADR 0103).
"""

from knowledge_base.retrieval.fusion import RRF_K, reciprocal_rank_fusion
from knowledge_base.retrieval.hits import Hit, ParentSection, SearchFilters
from knowledge_base.retrieval.hybrid import (
    MAX_TOP_K,
    SearchMode,
    SearchParams,
    SearchResult,
    search,
    search_with_outcome,
)
from knowledge_base.retrieval.keyword import keyword_search, tsquery_sql
from knowledge_base.retrieval.rerank import Rerank, RerankOutcome
from knowledge_base.retrieval.vector import embed_query, vector_search

__all__ = [
    "MAX_TOP_K",
    "RRF_K",
    "Hit",
    "ParentSection",
    "Rerank",
    "RerankOutcome",
    "SearchFilters",
    "SearchMode",
    "SearchParams",
    "SearchResult",
    "embed_query",
    "keyword_search",
    "reciprocal_rank_fusion",
    "search",
    "search_with_outcome",
    "tsquery_sql",
    "vector_search",
]

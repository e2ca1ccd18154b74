"""Search over an organization's chunks: vector, keyword and hybrid.

- vector: cosine distance on the per-dimension HNSW index (vector_indexes.py),
  with pgvector's iterative index scan so filters still return top_k rows;
- keyword: PostgreSQL full-text search (websearch syntax) on the GIN index;
- hybrid: reciprocal rank fusion of both candidate lists, with weights.

Only chunks of completed documents are searched. Every hit carries the chunk
id, text, document title, page, section, score and a highlighted snippet.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from enum import StrEnum

from django.db import connection, transaction

from assistants import gateway
from billing.models import Channel
from core.tenancy import require_tenant_schema
from knowledge_base.models import TEXT_SEARCH_CONFIG, Collection
from knowledge_base.vector_indexes import vector_distance_sql

MAX_TOP_K = 50
RRF_K = 60  # the constant of reciprocal rank fusion (Cormack et al.)
# HNSW candidate list: 200 gives recall@10 >= 0.95 against exact search at 10k-100k
# chunks for about 2 ms more than pgvector's default of 40 (docs/benchmarks.md).
HNSW_EF_SEARCH = 200
SNIPPET_OPTIONS = "StartSel=<mark>, StopSel=</mark>, MaxWords=40, MinWords=15, MaxFragments=2"


class SearchMode(StrEnum):
    VECTOR = "vector"
    KEYWORD = "keyword"
    HYBRID = "hybrid"


@dataclass(frozen=True)
class SearchFilters:
    documents: list = field(default_factory=list)
    metadata: dict = field(default_factory=dict)  # chunk or document metadata containment


@dataclass
class Hit:
    chunk_id: int
    document_id: str
    document_title: str
    collection_id: str
    text: str
    page: int | None
    section: str
    score: float
    snippet: str = ""
    vector_rank: int | None = None
    keyword_rank: int | None = None


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


_BASE_SELECT = """
    SELECT c.id, c.document_id, d.title, c.collection_id, c.content, c.page_number,
           c.section_title, {score} AS score
    FROM knowledge_base_documentchunk c
    JOIN knowledge_base_document d ON d.id = c.document_id
    WHERE d.status = 'completed' AND c.collection_id = ANY(%s::uuid[]) {filters}
"""


def _filter_sql(filters: SearchFilters) -> tuple[str, list]:
    sql, params = [], []
    if filters.documents:
        sql.append("AND c.document_id = ANY(%s::uuid[])")
        params.append([str(d) for d in filters.documents])
    if filters.metadata:
        sql.append("AND (c.metadata @> %s::jsonb OR d.metadata @> %s::jsonb)")
        params += [json.dumps(filters.metadata)] * 2
    return " ".join(sql), params


def _rows_to_hits(rows) -> list[Hit]:
    return [
        Hit(
            chunk_id=r[0],
            document_id=str(r[1]),
            document_title=r[2],
            collection_id=str(r[3]),
            text=r[4],
            page=r[5],
            section=r[6] or "",
            score=float(r[7]),
        )
        for r in rows
    ]


def vector_search(
    *,
    embedding: list[float],
    dimensions: int,
    collection_ids: list,
    limit: int,
    filters: SearchFilters,
) -> list[Hit]:
    distance = vector_distance_sql(dimensions)
    filter_sql, filter_params = _filter_sql(filters)
    sql = _BASE_SELECT.format(score=f"1 - {distance}", filters=filter_sql)
    sql += f" AND c.embedding_dimensions = {int(dimensions)} ORDER BY {distance} LIMIT %s"
    vector = str(list(embedding))
    params = [vector, [str(c) for c in collection_ids], *filter_params, vector, limit]
    # SET LOCAL lasts until the end of the transaction, so give it one.
    with transaction.atomic(), connection.cursor() as cursor:
        # Iterative scans keep reading the HNSW graph until enough rows pass the
        # filters; ef_search bounds the candidate list per step.
        cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        cursor.execute(f"SET LOCAL hnsw.ef_search = {max(HNSW_EF_SEARCH, min(1000, limit * 4))}")
        cursor.execute(sql, params)
        hits = _rows_to_hits(cursor.fetchall())
    # relaxed_order may return rows slightly out of order: restore it.
    return sorted(hits, key=lambda h: h.score, reverse=True)


# Quotes, a leading minus or OR: the user speaks websearch syntax, so honour it exactly.
_WEBSEARCH_SYNTAX = re.compile(r'"|(^|\s)-\w|\bor\b', re.IGNORECASE)


def _tsquery_sql(query: str) -> str:
    """Plain questions match ANY of their words (ranked by how many and how close,
    like BM25 systems); websearch syntax is applied as written."""
    if _WEBSEARCH_SYNTAX.search(query):
        return f"websearch_to_tsquery('{TEXT_SEARCH_CONFIG}', %s)"
    return f"replace(plainto_tsquery('{TEXT_SEARCH_CONFIG}', %s)::text, ' & ', ' | ')::tsquery"


# BM25 parameters (Robertson/Sparck Jones; the usual defaults).
BM25_K1 = 1.2
BM25_B = 0.75
# Words in more than this share of the chunks say little about relevance: they still
# count in the score but do not select candidates (keeps the candidate set focused).
COMMON_WORD_SHARE = 0.1
# Candidates read from the GIN index before BM25 ranks them.
KEYWORD_CANDIDATES = 300


def keyword_search(
    *, query: str, collection_ids: list, limit: int, filters: SearchFilters
) -> list[Hit]:
    """Websearch syntax (quotes, -word, OR) is applied exactly, ranked by ts_rank_cd;
    plain questions are ranked by BM25 over their words (see ``_bm25_search``)."""
    if not _WEBSEARCH_SYNTAX.search(query):
        return _bm25_search(
            query=query, collection_ids=collection_ids, limit=limit, filters=filters
        )
    tsquery = f"websearch_to_tsquery('{TEXT_SEARCH_CONFIG}', %s)"
    filter_sql, filter_params = _filter_sql(filters)
    sql = _BASE_SELECT.format(
        score=f"ts_rank_cd(c.search_vector, {tsquery}, 32)", filters=filter_sql
    )
    sql += f" AND c.search_vector @@ {tsquery} ORDER BY score DESC, c.id LIMIT %s"
    params = [query, [str(c) for c in collection_ids], *filter_params, query, limit]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return _rows_to_hits(cursor.fetchall())


def _term_statistics(
    cursor, query: str, collection_ids: list[str]
) -> tuple[dict[str, int], int, float]:
    """Document frequency of each query word, chunk count and mean chunk length.

    One round trip; each count is a GIN index lookup. (Counts cover all chunks of the
    collections; chunks of unfinished documents are few and only shift IDF slightly.)"""
    cursor.execute(
        f"""
        WITH words AS (SELECT unnest(tsvector_to_array(to_tsvector('{TEXT_SEARCH_CONFIG}', %s))) AS w)
        SELECT w, (SELECT count(*) FROM knowledge_base_documentchunk c
                   WHERE c.collection_id = ANY(%s::uuid[])
                     AND c.search_vector @@ quote_literal(w)::tsquery)
        FROM words
        """,  # noqa: S608 - only module constants are interpolated
        [query, collection_ids],
    )
    frequencies = dict(cursor.fetchall())
    cursor.execute(
        "SELECT count(*), coalesce(avg(token_count), 1) FROM knowledge_base_documentchunk "
        "WHERE collection_id = ANY(%s::uuid[])",
        [collection_ids],
    )
    total, mean_length = cursor.fetchone()
    return frequencies, total, float(mean_length)


def _bm25_search(
    *, query: str, collection_ids: list, limit: int, filters: SearchFilters
) -> list[Hit]:
    """BM25 over PostgreSQL's full-text index: candidates are the chunks containing the
    informative query words (GIN), ranked by BM25 with IDF from the collection.

    PostgreSQL's own ts_rank has no inverse document frequency, which on natural
    questions ranks chunks full of common words first (SciFact nDCG@10 0.37 against
    BM25's 0.67; docs/benchmarks.md)."""
    ids = [str(c) for c in collection_ids]
    with connection.cursor() as cursor:
        frequencies, total, mean_length = _term_statistics(cursor, query, ids)
        present = {w: n for w, n in frequencies.items() if n}
        if not present or not total:
            return []
        idf = {w: math.log(1 + (total - n + 0.5) / (n + 0.5)) for w, n in present.items()}
        selective = [w for w, n in present.items() if n / total <= COMMON_WORD_SHARE] or list(
            present
        )
        selector = " | ".join(f"'{w}'" for w in (w.replace("'", "''") for w in selective))
        filter_sql, filter_params = _filter_sql(filters)
        cursor.execute(
            f"""
            WITH candidates AS (
                SELECT c.id, c.search_vector, c.token_count
                FROM knowledge_base_documentchunk c
                JOIN knowledge_base_document d ON d.id = c.document_id
                WHERE d.status = 'completed' AND c.collection_id = ANY(%s::uuid[]) {filter_sql}
                  AND c.search_vector @@ %s::tsquery
                ORDER BY ts_rank(c.search_vector, %s::tsquery) DESC
                LIMIT %s
            )
            SELECT c.id, c.token_count, t.lexeme, coalesce(array_length(t.positions, 1), 1)
            FROM candidates c, unnest(c.search_vector) t
            WHERE t.lexeme = ANY(%s)
            """,  # noqa: S608 - filter_sql is built from constants; values are parameters
            [
                ids,
                *filter_params,
                selector,
                selector,
                max(KEYWORD_CANDIDATES, limit * 5),
                list(present),
            ],
        )
        scores: dict[int, float] = defaultdict(float)
        for chunk_id, length, word, frequency in cursor.fetchall():
            norm = BM25_K1 * (1 - BM25_B + BM25_B * (length or mean_length) / mean_length)
            scores[chunk_id] += idf[word] * frequency * (BM25_K1 + 1) / (frequency + norm)
        best = sorted(scores, key=lambda chunk_id: (-scores[chunk_id], chunk_id))[:limit]
        if not best:
            return []
        cursor.execute(
            _BASE_SELECT.format(score="0", filters="") + " AND c.id = ANY(%s)", [ids, best]
        )
        hits = {hit.chunk_id: hit for hit in _rows_to_hits(cursor.fetchall())}
    ordered = [hits[chunk_id] for chunk_id in best if chunk_id in hits]
    for hit in ordered:
        hit.score = round(scores[hit.chunk_id], 6)
    return ordered


def reciprocal_rank_fusion(
    ranked: list[tuple[list[Hit], float]], *, limit: int, k: int = RRF_K
) -> list[Hit]:
    """Fuse ranked lists: score = sum(weight / (k + rank)). Robust to the lists'
    incomparable raw scores (cosine similarity vs. ts_rank)."""
    fused: dict[int, float] = defaultdict(float)
    by_id: dict[int, Hit] = {}
    for position, (hits, weight) in enumerate(ranked):
        for rank, hit in enumerate(hits, start=1):
            fused[hit.chunk_id] += weight / (k + rank)
            kept = by_id.setdefault(hit.chunk_id, hit)
            if position == 0:
                kept.vector_rank = rank
            else:
                kept.keyword_rank = rank
    ordered = sorted(fused, key=lambda chunk_id: (-fused[chunk_id], chunk_id))[:limit]
    results = []
    for chunk_id in ordered:
        hit = by_id[chunk_id]
        hit.score = round(fused[chunk_id], 6)
        results.append(hit)
    return results


def _add_snippets(hits: list[Hit], query: str) -> None:
    """Highlight query words in each hit (ts_headline), in one round trip."""
    if not hits:
        return
    sql = (
        # Only module constants are interpolated; values are parameters.
        f"SELECT c.id, ts_headline('{TEXT_SEARCH_CONFIG}', c.content, "  # noqa: S608
        f"{_tsquery_sql(query)}, %s) "
        "FROM knowledge_base_documentchunk c WHERE c.id = ANY(%s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [query, SNIPPET_OPTIONS, [h.chunk_id for h in hits]])
        snippets = dict(cursor.fetchall())
    for hit in hits:
        hit.snippet = snippets.get(hit.chunk_id, "") or hit.text[:300]


def _embed_query(query: str, collections: list[Collection], organization, user) -> dict:
    """One query embedding per embedding model among the collections."""
    vectors = {}
    for collection in collections:
        model = collection.embedding_model
        if model.pk not in vectors:
            context = gateway.UsageContext(
                organization=organization, user=user, channel=Channel.WEB
            )
            result = gateway.ai_embed(model=model, texts=[query], context=context)
            vectors[model.pk] = result.vectors[0]
    return vectors


def search(params: SearchParams, *, organization, user=None) -> list[Hit]:
    require_tenant_schema()
    if not 1 <= params.top_k <= MAX_TOP_K:
        raise ValueError(f"top_k must be between 1 and {MAX_TOP_K}")
    if not params.collections or not params.query.strip():
        return []
    pool = params.top_k if params.mode != SearchMode.HYBRID else max(params.top_k * 4, 40)
    vector_hits: list[Hit] = []
    keyword_hits: list[Hit] = []
    if params.mode in (SearchMode.VECTOR, SearchMode.HYBRID):
        embeddings = _embed_query(params.query, params.collections, organization, user)
        groups: dict[int, list] = defaultdict(list)
        for collection in params.collections:
            groups[collection.embedding_model_id].append(collection)
        for model_id, group in groups.items():
            vector_hits += vector_search(
                embedding=embeddings[model_id], dimensions=group[0].embedding_dimensions,
                collection_ids=[c.id for c in group], limit=pool, filters=params.filters,
            )  # fmt: skip
        vector_hits = sorted(vector_hits, key=lambda h: h.score, reverse=True)[:pool]
    if params.mode in (SearchMode.KEYWORD, SearchMode.HYBRID):
        keyword_hits = keyword_search(
            query=params.query, collection_ids=[c.id for c in params.collections], limit=pool,
            filters=params.filters,
        )  # fmt: skip
    if params.mode == SearchMode.VECTOR:
        hits = [h for h in vector_hits if h.score >= params.min_score][: params.top_k]
    elif params.mode == SearchMode.KEYWORD:
        hits = keyword_hits[: params.top_k]
    else:
        hits = reciprocal_rank_fusion(
            [(vector_hits, params.vector_weight), (keyword_hits, params.keyword_weight)],
            limit=params.top_k,
        )
    _add_snippets(hits, params.query)
    return hits

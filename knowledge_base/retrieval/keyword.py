"""Keyword search over PostgreSQL's full-text index (ADR 0011).

Plain questions are ranked by BM25 over their words; websearch syntax (quotes,
-word, OR) is applied exactly and ranked by ts_rank_cd.
"""

from __future__ import annotations

import math
import re
import time
from collections import defaultdict
from dataclasses import dataclass

from django.db import connection

from knowledge_base.models import TEXT_SEARCH_CONFIG
from knowledge_base.retrieval.hits import BASE_SELECT, Hit, SearchFilters, filter_sql, rows_to_hits

# Quotes, a leading minus or OR: the user speaks websearch syntax, so honour it exactly.
_WEBSEARCH_SYNTAX = re.compile(r'"|(^|\s)-\w|\bor\b', re.IGNORECASE)

# BM25 parameters (Robertson/Sparck Jones; the usual defaults).
BM25_K1 = 1.2
BM25_B = 0.75
# Words in more than this share of the chunks say little about relevance: they still
# count in the score but do not select candidates (keeps the candidate set focused).
COMMON_WORD_SHARE = 0.1
# Candidates read from the GIN index before BM25 ranks them.
KEYWORD_CANDIDATES = 300


def uses_websearch_syntax(query: str) -> bool:
    return bool(_WEBSEARCH_SYNTAX.search(query))


def tsquery_sql(query: str) -> str:
    """Plain questions match ANY of their words (ranked by how many and how close,
    like BM25 systems); websearch syntax is applied as written."""
    if uses_websearch_syntax(query):
        return f"websearch_to_tsquery('{TEXT_SEARCH_CONFIG}', %s)"
    return f"replace(plainto_tsquery('{TEXT_SEARCH_CONFIG}', %s)::text, ' & ', ' | ')::tsquery"


def keyword_search(
    *, query: str, collection_ids: list, limit: int, filters: SearchFilters
) -> list[Hit]:
    """Websearch syntax (quotes, -word, OR) is applied exactly, ranked by ts_rank_cd;
    plain questions are ranked by BM25 over their words (see ``bm25_search``)."""
    if not uses_websearch_syntax(query):
        return bm25_search(query=query, collection_ids=collection_ids, limit=limit, filters=filters)
    tsquery = f"websearch_to_tsquery('{TEXT_SEARCH_CONFIG}', %s)"
    filters_sql, filter_params = filter_sql(filters)
    sql = BASE_SELECT.format(
        score=f"ts_rank_cd(c.search_vector, {tsquery}, 32)", filters=filters_sql
    )
    sql += f" AND c.search_vector @@ {tsquery} ORDER BY score DESC, c.id LIMIT %s"
    params = [query, [str(c) for c in collection_ids], *filter_params, query, limit]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return rows_to_hits(cursor.fetchall())


@dataclass(frozen=True)
class TermStatistics:
    """Of the query's words, over the collections' chunks."""

    frequencies: dict[str, int]  # chunks containing each word (0: none)
    total: int  # chunks
    mean_length: float  # tokens per chunk

    def present(self) -> dict[str, int]:
        return {w: n for w, n in self.frequencies.items() if n}

    def idf(self) -> dict[str, float]:
        return {
            w: math.log(1 + (self.total - n + 0.5) / (n + 0.5)) for w, n in self.present().items()
        }

    def selective_words(self) -> list[str]:
        """The words that select candidates: all but the common ones (if any remain)."""
        present = self.present()
        return [w for w, n in present.items() if n / self.total <= COMMON_WORD_SHARE] or list(
            present
        )


def term_statistics(cursor, query: str, collection_ids: list[str]) -> TermStatistics:
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
    total, mean_length = _collection_size(cursor, collection_ids)
    return TermStatistics(frequencies, total, mean_length)


# The chunk count and mean length of the searched collections, per schema: they move only
# when documents are added or removed, and a few seconds of staleness shifts BM25's length
# normalisation negligibly, while counting scans the collections' chunks on every search
# (about a sixth of a keyword search at 10k chunks; docs/benchmarks.md).
COLLECTION_SIZE_TTL_S = 30.0
_collection_sizes: dict[tuple, tuple[float, int, float]] = {}


def _collection_size(cursor, collection_ids: list[str]) -> tuple[int, float]:
    key = (connection.schema_name, tuple(sorted(collection_ids)))
    cached = _collection_sizes.get(key)
    now = time.monotonic()
    if cached is not None and now - cached[0] < COLLECTION_SIZE_TTL_S:
        return cached[1], cached[2]
    cursor.execute(
        "SELECT count(*), coalesce(avg(token_count), 1) FROM knowledge_base_documentchunk "
        "WHERE collection_id = ANY(%s::uuid[])",
        [collection_ids],
    )
    total, mean_length = cursor.fetchone()
    if len(_collection_sizes) > 10_000:  # many organizations: start again, never grow unbounded
        _collection_sizes.clear()
    _collection_sizes[key] = (now, total, float(mean_length))
    return total, float(mean_length)


def _candidate_terms(cursor, *, stats, collection_ids, limit, filters) -> list[tuple]:
    """(chunk id, chunk length, word, frequency in the chunk) of each query word in
    each candidate chunk: the chunks containing a selective word, best ts_rank first."""
    words = (w.replace("'", "''") for w in stats.selective_words())
    selector = " | ".join(f"'{w}'" for w in words)
    filters_sql, filter_params = filter_sql(filters)
    cursor.execute(
        f"""
        WITH candidates AS (
            SELECT c.id, c.search_vector, c.token_count
            FROM knowledge_base_documentchunk c
            JOIN knowledge_base_document d ON d.id = c.document_id
            WHERE d.status = 'completed' AND c.collection_id = ANY(%s::uuid[]) {filters_sql}
              AND c.search_vector @@ %s::tsquery
            ORDER BY ts_rank(c.search_vector, %s::tsquery) DESC
            LIMIT %s
        )
        SELECT c.id, c.token_count, t.lexeme, coalesce(array_length(t.positions, 1), 1)
        FROM candidates c, unnest(c.search_vector) t
        WHERE t.lexeme = ANY(%s)
        """,  # noqa: S608 - filters_sql is built from constants; values are parameters
        [
            collection_ids,
            *filter_params,
            selector,
            selector,
            max(KEYWORD_CANDIDATES, limit * 5),
            list(stats.present()),
        ],
    )
    return cursor.fetchall()


def bm25_scores(terms: list[tuple], stats: TermStatistics) -> dict[int, float]:
    idf = stats.idf()
    mean_length = stats.mean_length
    scores: dict[int, float] = defaultdict(float)
    for chunk_id, length, word, frequency in terms:
        norm = BM25_K1 * (1 - BM25_B + BM25_B * (length or mean_length) / mean_length)
        scores[chunk_id] += idf[word] * frequency * (BM25_K1 + 1) / (frequency + norm)
    return scores


def bm25_search(
    *, query: str, collection_ids: list, limit: int, filters: SearchFilters
) -> list[Hit]:
    """BM25 over PostgreSQL's full-text index: candidates are the chunks containing the
    informative query words (GIN), ranked by BM25 with IDF from the collection.

    PostgreSQL's own ts_rank has no inverse document frequency, which on natural
    questions ranks chunks full of common words first (SciFact nDCG@10 0.37 against
    BM25's 0.67; docs/benchmarks.md)."""
    ids = [str(c) for c in collection_ids]
    with connection.cursor() as cursor:
        stats = term_statistics(cursor, query, ids)
        if not stats.present() or not stats.total:
            return []
        terms = _candidate_terms(
            cursor, stats=stats, collection_ids=ids, limit=limit, filters=filters
        )
        scores = bm25_scores(terms, stats)
        best = sorted(scores, key=lambda chunk_id: (-scores[chunk_id], chunk_id))[:limit]
        if not best:
            return []
        cursor.execute(
            BASE_SELECT.format(score="0", filters="") + " AND c.id = ANY(%s)", [ids, best]
        )
        hits = {hit.chunk_id: hit for hit in rows_to_hits(cursor.fetchall())}
    ordered = [hits[chunk_id] for chunk_id in best if chunk_id in hits]
    for hit in ordered:
        hit.score = round(scores[hit.chunk_id], 6)
    return ordered

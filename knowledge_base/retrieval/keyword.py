"""Keyword search: Okapi BM25 over PostgreSQL's full-text index (ADR 0011, 0023).

Every query is ranked by BM25 over its words. Search syntax is recognised only when
written on purpose -- a quoted phrase, a ``-word`` exclusion, an upper-case ``OR`` --
and then it filters (``websearch_to_tsquery``) while the ranking stays BM25 over the
query's other words. A question containing "or" is a plain question.

Statistics (document frequency per lexeme, chunk count, total length) are read from
the collection's incrementally kept tables (text_index.py): one index lookup.

Candidates are chosen by IDF so that the result equals exact BM25 (max-score pruning):
the rarest words select candidates first; the rest are added, rarest first, until the
words left out could not lift any other chunk above the current ``limit``-th score,
whose bound is ``idf * (k1 + 1)`` per word. Only a pathological query (every word in
a large share of the collection) stops at ``MAX_POSTINGS`` candidate rows and is then
approximate.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import connection

from knowledge_base.models import TEXT_SEARCH_CONFIG
from knowledge_base.retrieval.hits import BASE_SELECT, Hit, SearchFilters, filter_sql, rows_to_hits

# Explicit syntax only: a quoted phrase, "-word" at the start or after a space (a letter
# follows the dash: "-5 degrees" is a number), or OR in capitals between words.
_SYNTAX = re.compile(r'"[^"]+"|(?:^|\s)-[^\W\d_]|\sOR\s')
_EXCLUSION = re.compile(r'(?:^|\s)-(?:"[^"]*"|\S+)')

# BM25 parameters (Robertson/Sparck Jones; the usual defaults).
BM25_K1 = 1.2
BM25_B = 0.75
# Title and heading words (weights A and B in the search vector) count twice: a word in
# the title says more about the chunk than one mention in its text.
HEADER_BOOST = 1
# Candidate rows read by the first round (the rarest words): enough for most queries to
# need no second round.
FIRST_ROUND_POSTINGS = 2_000
# A safety bound on the rows one search reads; beyond it the ranking is approximate.
MAX_POSTINGS = 60_000


def uses_websearch_syntax(query: str) -> bool:
    return bool(_SYNTAX.search(query))


def ranking_text(query: str) -> str:
    """The words that rank: the query without its exclusions and operators."""
    if not uses_websearch_syntax(query):
        return query
    text = _EXCLUSION.sub(" ", query)
    return re.sub(r"\sOR\s", " ", text).replace('"', " ")


def tsquery_sql(query: str, config: str = TEXT_SEARCH_CONFIG) -> str:
    """A tsquery matching the chunks a query is about: its syntax when it has some,
    else any of its words (for snippets and the benchmarks' reference rankers)."""
    if uses_websearch_syntax(query):
        return f"websearch_to_tsquery('{config}', %s)"
    return f"replace(plainto_tsquery('{config}', %s)::text, ' & ', ' | ')::tsquery"


def _quote(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def _any_of(lexemes) -> str:
    return " | ".join(_quote(w) for w in lexemes)


@dataclass
class _Group:
    """Collections searched with one text-search configuration (their statistics summed)."""

    config: str
    unaccent: bool
    collection_ids: list[str] = field(default_factory=list)
    frequencies: dict[str, int] = field(default_factory=dict)  # chunks containing each word
    chunks: int = 0
    length: int = 0

    @property
    def mean_length(self) -> float:
        return self.length / self.chunks if self.chunks else 1.0

    def idf(self) -> dict[str, float]:
        total = self.chunks
        return {
            w: math.log(1 + (total - n + 0.5) / (n + 0.5)) for w, n in self.frequencies.items() if n
        }


# One statement: the collections' languages and totals, the query's words in each
# language, and each word's document frequency.
_STATISTICS_SQL = """
    WITH cols AS (
        SELECT id, language, unaccent, text_chunks, text_length
        FROM knowledge_base_collection WHERE id = ANY(%s::uuid[])
    ),
    words AS (
        SELECT cols.id, w
        FROM cols, unnest(tsvector_to_array(to_tsvector(
            cols.language::regconfig,
            CASE WHEN cols.unaccent THEN public.unaccent(%s) ELSE %s END))) w
    )
    SELECT cols.id, cols.language, cols.unaccent, cols.text_chunks, cols.text_length,
           words.w, coalesce(t.chunks, 0)
    FROM cols
    LEFT JOIN words ON words.id = cols.id
    LEFT JOIN knowledge_base_collectionterm t ON t.collection_id = cols.id AND t.lexeme = words.w
"""


def _statistics(cursor, text: str, collection_ids: list[str]) -> list[_Group]:
    cursor.execute(_STATISTICS_SQL, [collection_ids, text, text])
    groups: dict[tuple, _Group] = {}
    seen: set[str] = set()
    for collection_id, language, unaccent, chunks, length, word, frequency in cursor.fetchall():
        group = groups.setdefault((language, unaccent), _Group(language, unaccent))
        collection_id = str(collection_id)
        if collection_id not in seen:
            seen.add(collection_id)
            group.collection_ids.append(collection_id)
            group.chunks += chunks
            group.length += length
        if word is not None:
            group.frequencies[word] = group.frequencies.get(word, 0) + frequency
    return list(groups.values())


def _query_text_sql(unaccent: bool) -> str:
    return "public.unaccent(%s)" if unaccent else "%s"


def _postings(
    cursor, *, group: _Group, words: list[str], seen: list[str], query: str, limit_filter: tuple
) -> list[tuple]:
    """(chunk id, length, word, weighted frequency) of every query word in the completed
    chunks that contain one of ``words`` and none of ``seen`` (read by earlier rounds)."""
    filters_sql, filter_params = limit_filter
    extra, extra_params = "", []
    if seen:
        extra += " AND NOT c.search_vector @@ %s::tsquery"
        extra_params.append(_any_of(seen))
    if uses_websearch_syntax(query):
        extra += (
            f" AND c.search_vector @@ websearch_to_tsquery("
            f"'{group.config}', {_query_text_sql(group.unaccent)})"
        )
        extra_params.append(query)
    # Only the query's lexemes leave each candidate's vector: setweight marks them 'C'
    # (a weight the index never writes) and ts_filter keeps them, both in C, so the rows
    # unnested are the few query words, not the chunk's ~100 lexemes. Their title and
    # heading positions (weights A and B) are counted from the small header part.
    cursor.execute(
        f"""
        SELECT c.id, c.search_length, u.lexeme,
               cardinality(u.positions) + {HEADER_BOOST} * coalesce((
                   SELECT cardinality(h.positions)
                   FROM unnest(ts_filter(c.search_vector, '{{a,b}}')) h
                   WHERE h.lexeme = u.lexeme), 0)
        FROM knowledge_base_documentchunk c
        JOIN knowledge_base_document d ON d.id = c.document_id
        CROSS JOIN LATERAL unnest(
            ts_filter(setweight(c.search_vector, 'C', %s::text[]), '{{c}}')) u
        WHERE d.status = 'completed' AND c.collection_id = ANY(%s::uuid[]) {filters_sql}
          AND c.search_vector @@ %s::tsquery {extra}
        """,  # noqa: S608 - constants and a validated configuration name only
        [
            list(group.frequencies),
            group.collection_ids,
            *filter_params,
            _any_of(words),
            *extra_params,
        ],
    )
    return cursor.fetchall()


def _kth(scores: dict[int, float], k: int) -> float:
    if len(scores) < k:
        return 0.0
    return sorted(scores.values(), reverse=True)[k - 1]


def _group_scores(
    cursor, group: _Group, query: str, limit: int, filters: SearchFilters
) -> dict[int, float]:
    idf = group.idf()
    if not idf:
        return {}
    ordered = sorted(idf, key=lambda w: (-idf[w], w))  # rarest first
    bound = {w: idf[w] * (BM25_K1 + 1) for w in ordered}
    mean = group.mean_length
    filter_parts = filter_sql(filters)
    scores: dict[int, float] = defaultdict(float)
    selected: list[str] = []
    read = 0
    position = 0
    while position < len(ordered):
        # This round's words: the rarest left, as many as the first round's budget
        # allows; later rounds exactly those the current threshold still needs.
        words: list[str] = []
        if not selected:
            postings = 0
            while position < len(ordered):
                word = ordered[position]
                if words and postings + group.frequencies[word] > FIRST_ROUND_POSTINGS:
                    break
                words.append(word)
                postings += group.frequencies[word]
                position += 1
        else:
            threshold = _kth(scores, limit)
            left = sum(bound[w] for w in ordered[position:])
            while position < len(ordered) and left > threshold:
                words.append(ordered[position])
                left -= bound[ordered[position]]
                position += 1
            if not words:
                break
            if read + sum(group.frequencies[w] for w in words) > MAX_POSTINGS:
                break  # approximate from here: see the module docstring
        rows = _postings(
            cursor, group=group, words=words, seen=selected, query=query, limit_filter=filter_parts
        )
        read += len(rows)
        for chunk_id, length, word, frequency in rows:
            norm = BM25_K1 * (1 - BM25_B + BM25_B * (length or mean) / mean)
            scores[chunk_id] += idf[word] * frequency * (BM25_K1 + 1) / (frequency + norm)
        selected += words
        left = sum(bound[w] for w in ordered[position:])
        if left <= _kth(scores, limit):
            break
    return scores


def keyword_search(
    *, query: str, collection_ids: list, limit: int, filters: SearchFilters
) -> list[Hit]:
    """The ``limit`` best chunks by BM25 (see the module docstring)."""
    ids = [str(c) for c in collection_ids]
    if not ids or not query.strip():
        return []
    text = ranking_text(query)
    with connection.cursor() as cursor:
        scores: dict[int, float] = {}
        for group in _statistics(cursor, text, ids):
            if group.chunks:
                scores.update(_group_scores(cursor, group, query, limit, filters))
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

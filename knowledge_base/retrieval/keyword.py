"""Keyword search: Okapi BM25 over PostgreSQL's full-text index (ADR 0011, 0023).

Every query is ranked by BM25 over its words. Search syntax is recognised only when
written on purpose -- a quoted phrase, a ``-word`` exclusion, an upper-case ``OR`` --
and then it filters (``websearch_to_tsquery``) while the ranking stays BM25 over the
query's other words. A question containing "or" is a plain question.

Statistics (document frequency per lexeme, chunk count, total length, per-word score
bounds) are read from the collection's incrementally kept tables (text_index.py): one
index lookup.

Candidates are chosen by IDF so that the result equals exact BM25 (max-score pruning):
the rarest words select candidates first; the rest are added, rarest first, until the
words left out could not lift any other chunk above the current ``limit``-th score.
A plain query is scored from the postings table (``ChunkTerm``, ADR 0062): each round
reads the postings of its words for chunks not scored yet, then those chunks' postings
of the words not read yet (index-only scans, no chunk is touched), and sums BM25 in SQL.
A query with explicit syntax or with filters is scored from the chunks' search vectors
(the GIN index) with the same rounds. Only a pathological query (every word in a large
share of the collection) stops at ``MAX_POSTINGS`` candidate rows and is then
approximate.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import connection

from knowledge_base.models import TEXT_SEARCH_CONFIG
from knowledge_base.retrieval.hits import (
    BASE_SELECT,
    CANDIDATE_SELECT,
    Hit,
    SearchFilters,
    filter_sql,
    rows_to_candidates,
    rows_to_hits,
)
from knowledge_base.retrieval.text_index import HEADER_BOOST

# Explicit syntax only: a quoted phrase, "-word" at the start or after a space (a letter
# follows the dash: "-5 degrees" is a number), or OR in capitals between words.
_SYNTAX = re.compile(r'"[^"]+"|(?:^|\s)-[^\W\d_]|\sOR\s')
_EXCLUSION = re.compile(r'(?:^|\s)-(?:"[^"]*"|\S+)')

# BM25 parameters (Robertson/Sparck Jones; the usual defaults).
BM25_K1 = 1.2
BM25_B = 0.75
# Candidate rows read by the first round (the rarest words): enough for most queries to
# need no second round.
FIRST_ROUND_POSTINGS = 8_000
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
    # Per collection's term row: (term id, lexeme, highest frequency, shortest chunk).
    terms: list[tuple[int, str, int, int]] = field(default_factory=list)
    excluded: list[int] = field(default_factory=list)  # chunks of unfinished documents

    @property
    def mean_length(self) -> float:
        return self.length / self.chunks if self.chunks else 1.0

    def impact(self, frequency: float, length: float) -> float:
        """BM25's term-frequency factor for one chunk (times the word's IDF)."""
        mean = self.mean_length
        norm = BM25_K1 * (1 - BM25_B + BM25_B * (length or mean) / mean)
        return frequency * (BM25_K1 + 1) / (frequency + norm)

    def bounds(self, idf: dict[str, float]) -> dict[str, float]:
        """The most one chunk can score for each word: its IDF times the factor of the
        highest frequency in the shortest chunk (each a bound, kept by the writers)."""
        best: dict[str, float] = {}
        for _, word, frequency, length in self.terms:
            if word in idf:
                bound = idf[word] * self.impact(frequency, max(length, 1))
                best[word] = max(best.get(word, 0.0), bound)
        return {w: best.get(w, idf[w] * (BM25_K1 + 1)) for w in idf}

    def idf(self) -> dict[str, float]:
        total = self.chunks
        return {
            w: math.log(1 + (total - n + 0.5) / (n + 0.5)) for w, n in self.frequencies.items() if n
        }


# One statement: the collections' languages and totals, the chunks of their unfinished
# documents, the query's words in each language, and each word's term row.
_STATISTICS_SQL = """
    WITH cols AS (
        SELECT id, language, unaccent, text_chunks, text_length, (
            SELECT coalesce(array_agg(c.id), '{}')
            FROM knowledge_base_document d
            JOIN knowledge_base_documentchunk c ON c.document_id = d.id
            WHERE d.collection_id = col.id AND d.status <> 'completed'
        ) AS excluded
        FROM knowledge_base_collection col WHERE id = ANY(%s::uuid[])
    ),
    words AS (
        SELECT cols.id, w
        FROM cols, unnest(tsvector_to_array(to_tsvector(
            cols.language::regconfig,
            CASE WHEN cols.unaccent THEN public.unaccent(%s) ELSE %s END))) w
    )
    SELECT cols.id, cols.language, cols.unaccent, cols.text_chunks, cols.text_length,
           cols.excluded, words.w, coalesce(t.chunks, 0), t.id, t.max_frequency, t.min_length
    FROM cols
    LEFT JOIN words ON words.id = cols.id
    LEFT JOIN knowledge_base_collectionterm t ON t.collection_id = cols.id AND t.lexeme = words.w
"""


def _statistics(cursor, text: str, collection_ids: list[str]) -> list[_Group]:
    cursor.execute(_STATISTICS_SQL, [collection_ids, text, text])
    groups: dict[tuple, _Group] = {}
    seen: set[str] = set()
    for row in cursor.fetchall():
        collection_id, language, unaccent, chunks, length, excluded, word, frequency = row[:8]
        term_id, max_frequency, min_length = row[8:]
        group = groups.setdefault((language, unaccent), _Group(language, unaccent))
        collection_id = str(collection_id)
        if collection_id not in seen:
            seen.add(collection_id)
            group.collection_ids.append(collection_id)
            group.chunks += chunks
            group.length += length
            group.excluded += excluded
        if word is not None:
            group.frequencies[word] = group.frequencies.get(word, 0) + frequency
        if term_id is not None and frequency:
            group.terms.append((term_id, word, max_frequency, min_length))
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
    return heapq.nlargest(k, scores.values())[-1]


# BM25 of a posting ``p`` of a query word ``w`` in SQL: %(k1)s etc. are the constants,
# the collection's mean length is %(mean)s, and the word's IDF is the column ``w.idf`` of
# the round's words, joined to their postings (a lookup per posting in parallel arrays
# cost as much as the sum: ADR 0102, addendum).
def _impact_sql(word: str = "w") -> str:
    # float8 throughout: Python floats arrive as numeric, and numeric arithmetic on every
    # posting costs several times more than the sum itself.
    return (
        f"{word}.idf * p.frequency * %(k1_1)s::float8 / (p.frequency + %(k1)s::float8 * "
        "(1 - %(b)s::float8 + %(b)s::float8 * "
        "(CASE WHEN p.length > 0 THEN p.length ELSE %(mean)s::float8 END) / %(mean)s::float8))"
    )


# One max-score round, rows of (chunk, partial score) to be summed: the chunks containing
# one of this round's words and not scored yet that can still reach the ``limit``-th
# score, with their score from those words, then the same chunks' score from the words
# not read yet (they contain none of the words read before). Both are index-only scans
# of the postings' primary key, one per word (words in term id order, so each chunk's
# sum adds its postings in the same order whatever the plan); the second one advances
# through the sorted chunk ids inside each word's postings.
#
# What can no longer reach the top is never summed or completed (ADR 0102): a chunk
# scores at most its score from this round's words plus ``rest_bound`` (the bounds of
# the words not read yet), so it is dropped when that is below the floor, the larger of
# the ``limit``-th score of earlier rounds (``floor``) and the ``limit``-th full score of
# this round's best chunks (``best``). A posting is dropped before summing when its own
# score is below its word's ``cutoff`` (the floor less every other word's bound): a
# chunk that can reach the floor keeps all its postings, so the kept sums are exact.
_EPSILON = 1e-9
# What a round returns (ADR 0114): each chunk once, with its full score (summed in SQL in
# the order Python summed the rows before: its partial score, then the words not read yet
# in term id order). ``after.floor`` is a lower bound of the ``limit``-th score once this
# round is counted; when the words not read yet cannot lift a chunk above it
# (``rest_bound`` <= it), this is the last round and only the chunks that can still be in
# the top are returned (a margin keeps ties to the ranking's rounding); otherwise every
# chunk scored, which later rounds skip.
_LAST_MARGIN = 1e-6
_CUTOFF_SQL = f"AND {_impact_sql()} >= w.cutoff"
# The first round's floor is its own best chunks' (there is none before it); a later
# round's best chunks are weaker than the earlier rounds' top, so its floor is theirs.
_FIRST_ROUND_FLOOR = """
            SELECT CASE WHEN count(*) >= %(limit)s THEN min(score) ELSE 0 END FROM best"""
_ROUND_SQL = f"""
    WITH words AS (
        SELECT * FROM unnest(%(terms)s::bigint[], %(idf)s::float8[], %(cutoffs)s::float8[])
            AS w (term_id, idf, cutoff)
    ),
    rest_words AS (
        SELECT * FROM unnest(%(rest_terms)s::bigint[], %(rest_idf)s::float8[]) AS w (term_id, idf)
    ),
    found AS MATERIALIZED (
        SELECT p.chunk_id, sum({_impact_sql()}) AS score
        FROM words w
        JOIN knowledge_base_chunkterm p ON p.term_id = w.term_id
        WHERE NOT (p.chunk_id = ANY(%(skip)s::bigint[]))
          {{cutoff}}
        GROUP BY p.chunk_id
        HAVING sum({_impact_sql()}) + %(rest_bound)s::float8 >= %(floor)s::float8 - {_EPSILON}
    ),
    top AS MATERIALIZED (
        SELECT chunk_id, score FROM found ORDER BY score DESC, chunk_id LIMIT %(limit)s
    ),
    best AS (
        SELECT top.chunk_id, top.score + rest.score AS score
        FROM top CROSS JOIN LATERAL (
            SELECT coalesce(sum({_impact_sql("r")}), 0) AS score
            FROM rest_words r
            JOIN knowledge_base_chunkterm p ON p.term_id = r.term_id AND p.chunk_id = top.chunk_id
        ) rest
    ),
    kept AS MATERIALIZED (
        SELECT found.chunk_id, found.score FROM found
        WHERE found.score + %(rest_bound)s::float8 >= ({{round_floor}}) - {_EPSILON}
    ),
    totals AS MATERIALIZED (
        SELECT chunk_id, sum(score) AS score FROM (
            SELECT chunk_id, score FROM kept
            UNION ALL
            SELECT p.chunk_id, {_impact_sql("r")}
            FROM rest_words r
            JOIN knowledge_base_chunkterm p ON p.term_id = r.term_id
            WHERE p.chunk_id = ANY(ARRAY(SELECT chunk_id FROM kept ORDER BY chunk_id))
        ) posting
        GROUP BY chunk_id
    ),
    after AS (
        SELECT greatest(%(floor)s::float8, coalesce((
            SELECT score FROM totals ORDER BY score DESC OFFSET %(limit)s - 1 LIMIT 1), 0)) AS floor
    )
    SELECT chunk_id, score FROM totals, after
    WHERE %(rest_bound)s::float8 > after.floor OR totals.score >= after.floor - {_LAST_MARGIN}
"""  # noqa: S608 - constants only


def _posting_scores(cursor, group: _Group, limit: int) -> dict[int, float]:
    """Exact BM25 from the postings table, rarest words first (see the module docstring).

    ``scores`` holds the exact score of every chunk that can be in the top ``limit``;
    a chunk dropped by a round's floor may come back in a later round with part of its
    score, always below the floor, so never in the top and never above the true
    ``limit``-th score (which only ever serves as a lower bound)."""
    idf = group.idf()
    if not idf:
        return {}
    ordered = sorted(idf, key=lambda w: (-idf[w], w))  # rarest first
    bound = group.bounds(idf)
    term_ids: dict[str, list[int]] = defaultdict(list)
    for term_id, word, _, _ in group.terms:
        term_ids[word].append(term_id)
    constants = {"k1": BM25_K1, "k1_1": BM25_K1 + 1, "b": BM25_B, "mean": group.mean_length}

    def arrays(words: list[str], prefix: str = "", cutoffs: dict | None = None) -> dict:
        pairs = sorted((t, w) for w in words for t in term_ids[w])  # term id order
        found = {
            f"{prefix}terms": [t for t, _ in pairs],
            f"{prefix}idf": [idf[w] for _, w in pairs],
        }
        if cutoffs is not None:
            found["cutoffs"] = [cutoffs[w] for _, w in pairs]
        return found

    scores: dict[int, float] = {}
    skip = set(group.excluded)
    read = 0
    position = 0
    while position < len(ordered):
        words, position = _round_words(
            group, ordered, position, bound, scores, limit, first=not scores, read=read
        )
        if not words:
            break  # done, or approximate from here: see the module docstring
        read += sum(group.frequencies[w] for w in words)
        rest = ordered[position:]
        floor = _kth(scores, limit)
        rest_bound = sum(bound[w] for w in rest)
        round_bound = sum(bound[w] for w in words)
        cutoffs = {w: floor - rest_bound - (round_bound - bound[w]) - _EPSILON for w in words}
        # The cutoffs filter postings only once some can be below them.
        cutoff = _CUTOFF_SQL if max(cutoffs.values(), default=0) > 0 else ""
        round_floor = "%(floor)s::float8" if floor > 0 else _FIRST_ROUND_FLOOR
        sql = _ROUND_SQL.replace("{cutoff}", cutoff).replace("{round_floor}", round_floor)
        cursor.execute(
            sql,
            {
                **arrays(words, cutoffs=cutoffs),
                **arrays(rest, "rest_"),
                **constants,
                "skip": sorted(skip),
                "rest_bound": rest_bound,
                "floor": floor,
                "limit": limit,
            },
        )
        found = dict(cursor.fetchall())
        scores.update(found)
        skip.update(found)
        if rest_bound <= _kth(scores, limit):
            break
    return scores


def _round_words(
    group: _Group, ordered, position: int, bound, scores, limit: int, *, first: bool, read: int
) -> tuple[list[str], int]:
    """This round's words and the next position: the rarest left, as many as the first
    round's budget allows; later rounds exactly those the current threshold still needs
    (none: the ranking is final, or over ``MAX_POSTINGS`` and approximate from here)."""
    words: list[str] = []
    if first:
        postings = 0
        while position < len(ordered):
            word = ordered[position]
            if words and postings + group.frequencies[word] > FIRST_ROUND_POSTINGS:
                break
            words.append(word)
            postings += group.frequencies[word]
            position += 1
        return words, position
    threshold = _kth(scores, limit)
    left = sum(bound[w] for w in ordered[position:])
    while position < len(ordered) and left > threshold:
        words.append(ordered[position])
        left -= bound[ordered[position]]
        position += 1
    if words and read + sum(group.frequencies[w] for w in words) > MAX_POSTINGS:
        return [], position
    return words, position


def _vector_scores(
    cursor, group: _Group, query: str, limit: int, filters: SearchFilters
) -> dict[int, float]:
    """Exact BM25 from the chunks' search vectors (GIN index): queries with syntax or
    filters, which the postings cannot apply."""
    idf = group.idf()
    if not idf:
        return {}
    ordered = sorted(idf, key=lambda w: (-idf[w], w))  # rarest first
    bound = group.bounds(idf)
    mean = group.mean_length
    filter_parts = filter_sql(filters)
    scores: dict[int, float] = defaultdict(float)
    selected: list[str] = []
    read = 0
    position = 0
    while position < len(ordered):
        words, position = _round_words(
            group, ordered, position, bound, scores, limit, first=not selected, read=read
        )
        if not words:
            break  # done, or approximate from here: see the module docstring
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


def keyword_ranking(
    *,
    query: str,
    collection_ids: list,
    limit: int,
    filters: SearchFilters,
) -> list[tuple[int, float]]:
    """The ``limit`` best (chunk id, BM25 score), best first (see the module docstring).
    Chunks of unfinished documents are never ranked (the statistics name them)."""
    ids = [str(c) for c in collection_ids]
    if not ids or not query.strip():
        return []
    text = ranking_text(query)
    with connection.cursor() as cursor:
        scores: dict[int, float] = {}
        plain = not uses_websearch_syntax(query) and not filters.documents and not filters.metadata
        for group in _statistics(cursor, text, ids):
            if not group.chunks:
                continue
            if plain:
                scores.update(_posting_scores(cursor, group, limit))
            else:
                scores.update(_vector_scores(cursor, group, query, limit, filters))
    # Equal scores (to float noise: sums run in different orders) go by chunk id.
    best = heapq.nsmallest(limit, scores, key=lambda c: (-round(scores[c], 9), c))
    return [(chunk_id, round(scores[chunk_id], 6)) for chunk_id in best]


def keyword_search(
    *,
    query: str,
    collection_ids: list,
    limit: int,
    filters: SearchFilters,
    with_text: bool = True,
) -> list[Hit]:
    """``keyword_ranking``'s chunks as hits of completed documents; ``with_text=False``:
    located and scored only (hydration.py reads the rest for the hits shown)."""
    ranking = keyword_ranking(
        query=query, collection_ids=collection_ids, limit=limit, filters=filters
    )
    if not ranking:
        return []
    ids = [str(c) for c in collection_ids]
    select = BASE_SELECT if with_text else CANDIDATE_SELECT
    with connection.cursor() as cursor:
        cursor.execute(
            select.format(score="0", filters="") + " AND c.id = ANY(%s)",
            [ids, [chunk_id for chunk_id, _ in ranking]],
        )
        rows = cursor.fetchall()
    hits = {h.chunk_id: h for h in (rows_to_hits(rows) if with_text else rows_to_candidates(rows))}
    ordered = []
    for chunk_id, score in ranking:
        if chunk_id in hits:
            hits[chunk_id].score = score
            ordered.append(hits[chunk_id])
    return ordered

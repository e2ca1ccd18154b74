"""History search: a person's messages (own and shared sessions; an admin's, the
organization's) by meaning, by keyword, or both fused.

- vector: cosine distance on the per-dimension HNSW index of the message entries
  (iterative scan, so filters still fill the page), or an exact scan when the
  searcher's matching entries are few;
- keyword: PostgreSQL full-text search (``websearch_to_tsquery``: quotes, -word, OR)
  over the GIN index, ranked by ``ts_rank_cd``;
- hybrid: reciprocal rank fusion of both lists (the knowledge base's constant).

Both halves, the choice between exact and graph, and the HNSW settings go to
PostgreSQL in one message (ADR 0113). Visibility is ``chat.access.sessions_visible``,
applied inside the SQL as a subquery, never after the ranking (so a page is always full
of visible results). Each result carries its session's title and source, a snippet
with the matched words' positions, the turns before and after it, its score and its
link.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection

from assistants import gateway
from assistants.providers.errors import ProviderError, as_domain_error
from assistants.providers.local_provider import terms as question_terms
from billing.models import Channel
from chat.access import sessions_visible
from chat.conversations import indexing
from chat.models import MessageBookmark
from core.access import Caller
from core.lookups import person
from knowledge_base.retrieval.fusion import RRF_K

MODES = ("hybrid", "vector", "keyword")
MAX_RESULTS = 200  # page * page_size may not go past this (a ranked search, not a dump)
HNSW_EF_SEARCH = 200
# Below this many candidate entries (the searcher's visible messages after the filters)
# the vector side is an exact scan: cheaper than walking the graph and exact, where
# HNSW's approximate order (a graph drawn at random, dead entries of rolled-back
# imports in it) could put a worse message first.
EXACT_SCAN_BELOW = 2000
SNIPPET_CHARS = 240
NEIGHBOUR_CHARS = 300


@dataclass(frozen=True)
class HistoryQuery:
    query: str
    mode: str = "hybrid"
    source: str | None = None
    assistant_id: object | None = None
    session_id: object | None = None
    role: str | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None
    tag: str | None = None
    bookmarked: bool = False
    page: int = 1
    page_size: int = 10


@dataclass
class HistoryHit:
    message_id: str
    score: float
    vector_rank: int | None = None
    keyword_rank: int | None = None
    similarity: float | None = None
    session_id: str = ""
    session_title: str = ""
    source: str = ""
    role: str = ""
    content: str = ""
    created_at: datetime | None = None
    snippet: str = ""
    highlights: list[list[int]] = field(default_factory=list)
    before: dict | None = None
    after: dict | None = None


@dataclass
class HistoryPage:
    results: list[HistoryHit]
    page: int
    page_size: int
    has_more: bool


def _visible_sql(caller: Caller, query: HistoryQuery) -> tuple[str, list]:
    sessions = sessions_visible(caller=caller)
    if query.source:
        sessions = sessions.filter(source=query.source)
    if query.assistant_id:
        sessions = sessions.filter(assistant_id=query.assistant_id)
    if query.session_id:
        sessions = sessions.filter(id=query.session_id)
    if query.tag:
        sessions = sessions.filter(tags__contains=[query.tag])
    sql, params = sessions.order_by().values("id").query.sql_with_params()
    return sql, list(params)


@dataclass(frozen=True)
class Filters:
    """A search's filters as SQL (compiled by the ORM, values as parameters): the
    sessions the searcher may see (with the session filters), and the conditions on
    the entries themselves (``e``); ``where`` is both, for the ranking statements.
    ``counted`` are the entry conditions the exact-or-graph count applies (see
    ``_vector_sql``)."""

    sessions: str
    sessions_params: list
    entries: list[str]
    entries_params: list
    counted: list[str]
    counted_params: list

    @property
    def where(self) -> str:
        return " AND ".join([f"e.session_id IN ({self.sessions})", *self.entries])

    @property
    def params(self) -> list:
        return [*self.sessions_params, *self.entries_params]


def filters_sql(caller: Caller, query: HistoryQuery) -> Filters:
    visible, params = _visible_sql(caller, query)
    entries: list[tuple[str, list, bool]] = []  # (condition, parameters, counted)
    if query.role:
        entries.append(("e.role = %s", [query.role], False))
    if query.date_from:
        entries.append(("e.created_at >= %s", [query.date_from], True))
    if query.date_to:
        entries.append(("e.created_at <= %s", [query.date_to], True))
    if query.bookmarked:
        marked = MessageBookmark.objects.filter(user=person(caller.user)).values("message_id")
        marked_sql, marked_params = marked.query.sql_with_params()
        entries.append((f"e.message_id IN ({marked_sql})", list(marked_params), True))
    return Filters(
        sessions=visible,
        sessions_params=params,
        entries=[sql for sql, _, _ in entries],
        entries_params=[p for _, ps, _ in entries for p in ps],
        counted=[sql for sql, _, counted in entries if counted],
        counted_params=[p for _, ps, counted in entries if counted for p in ps],
    )


def _vector_sql(
    *, embedding: list[float], dimensions: int, model_key: str, filters: Filters, limit: int
) -> tuple[list[str], list[str], list]:
    """The vector half: named subqueries, the selects of their rows, and the parameters.

    Exact or graph is decided inside the statement: ``few`` counts the searcher's
    matching entries up to ``EXACT_SCAN_BELOW``, session by session through the
    entries' session index (a sequential scan would read ten rows for each one counted
    when a person sees a tenth of the organization, and all of them when a date filter
    leaves few; the inner LIMIT keeps the planner from flattening the lateral subquery
    into such a join), and each branch is gated on it: PostgreSQL runs only the branch
    whose one-time condition holds. The count reads only the index on (session, time)
    (an index-only scan, which the ``ORDER BY`` asks for): it applies the date filters and the bookmarks (which can leave
    a handful of entries), not the role (at most halves the count: the graph's
    iterative scan still fills a page) nor the embedding model (other models' entries
    exist only while a model change is being indexed again). It may count more than
    match, never fewer: few entries are always ranked exactly. The query vector is written once (``qv``) and read by
    both branches; HNSW index scans accept it from a subquery.
    """
    cast = indexing.vector_cast(dimensions)
    distance = f"(e.embedding::{cast} <=> (SELECT v FROM qv))"  # noqa: S608
    # Interpolated: an int, the cast made from it, and the filters' SQL (compiled by
    # the ORM, values as parameters).
    model = f"e.embedding_dimensions = {int(dimensions)} AND e.embedding_model = %s"
    counted = "".join(f" AND {condition}" for condition in filters.counted)
    ranked_from = f"FROM chat_messagesearchentry e WHERE {model} AND {filters.where}"
    ctes = [
        f"qv AS (SELECT %s::{cast} AS v)",
        f"few AS (SELECT count(*) AS n FROM (SELECT 1 FROM ({filters.sessions}) s (id) "  # noqa: S608
        "CROSS JOIN LATERAL (SELECT 1 FROM chat_messagesearchentry e "
        f"WHERE e.session_id = s.id{counted} ORDER BY e.created_at LIMIT %s) x LIMIT %s) f)",
        # "+ 0" keeps the planner off the HNSW index: an exact sort of the few rows.
        f"v_exact AS (SELECT e.message_id, 1 - {distance} AS score {ranked_from} "  # noqa: S608
        f"AND (SELECT n FROM few) < %s ORDER BY {distance} + 0 LIMIT %s)",
        f"v_graph AS (SELECT e.message_id, 1 - {distance} AS score {ranked_from} "  # noqa: S608
        f"AND (SELECT n FROM few) >= %s ORDER BY {distance} LIMIT %s)",
    ]
    ranked_params = [model_key, *filters.params]
    ctes_params = [
        indexing.vector_text(list(embedding)),
        *filters.sessions_params, *filters.counted_params, EXACT_SCAN_BELOW, EXACT_SCAN_BELOW,
        *ranked_params, EXACT_SCAN_BELOW, limit,
        *ranked_params, EXACT_SCAN_BELOW, limit,
    ]  # fmt: skip
    selects = [
        "SELECT 'v', message_id, score, NULL::timestamptz FROM v_exact",
        "SELECT 'v', message_id, score, NULL::timestamptz FROM v_graph",
    ]
    return ctes, selects, ctes_params


def _keyword_sql(*, text: str, filters: Filters, limit: int):
    # The filters' SQL is the ORM's, values are parameters.
    ctes = [
        "k AS (SELECT e.message_id, ts_rank_cd(e.search_vector, q) AS score, e.created_at "  # noqa: S608
        "FROM chat_messagesearchentry e, websearch_to_tsquery(%s::regconfig, %s) q "
        f"WHERE e.search_vector @@ q AND {filters.where} "
        "ORDER BY score DESC, e.created_at DESC LIMIT %s)"
    ]
    selects = ["SELECT 'k', message_id, score, created_at FROM k"]
    return ctes, selects, [indexing.TEXT_SEARCH_CONFIG, text, *filters.params, limit]


def candidates(
    *,
    filters: Filters,
    limit: int,
    text: str | None = None,
    embedding: list[float] | None = None,
    dimensions: int = 0,
    model_key: str = "",
) -> tuple[list[HistoryHit], list[HistoryHit]]:
    """The ``limit`` best entries by meaning (with ``embedding``) and by keyword (with
    ``text``), each best first, in one round trip: the HNSW settings, then one
    statement holding both halves (one message, which PostgreSQL runs as one implicit
    transaction: the settings hold for this search only; inside a caller's transaction,
    until its end)."""
    sql, args, settings = candidates_statement(
        filters=filters,
        limit=limit,
        text=text,
        embedding=embedding,
        dimensions=dimensions,
        model_key=model_key,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, args)
        if settings:
            cursor.nextset()
        rows = cursor.fetchall()
    vector = [
        HistoryHit(str(mid), float(score), similarity=float(score))
        for kind, mid, score, _ in rows
        if kind == "v"
    ]
    keyword = [(str(mid), float(score), when) for kind, mid, score, when in rows if kind == "k"]
    # relaxed_order may return rows slightly out of order: restore it (stable sorts).
    vector.sort(key=lambda h: h.score, reverse=True)
    keyword.sort(key=lambda row: row[2], reverse=True)
    keyword.sort(key=lambda row: row[1], reverse=True)
    return vector, [HistoryHit(mid, score) for mid, score, _ in keyword]


def candidates_statement(
    *,
    filters: Filters,
    limit: int,
    text: str | None = None,
    embedding: list[float] | None = None,
    dimensions: int = 0,
    model_key: str = "",
) -> tuple[str, list, bool]:
    """``candidates``' SQL, its parameters, and whether it starts with the settings."""
    ctes: list[str] = []
    selects: list[str] = []
    args: list = []
    prefix, prefix_args = "", []
    if embedding is not None:
        v_ctes, v_selects, v_args = _vector_sql(
            embedding=embedding,
            dimensions=dimensions,
            model_key=model_key,
            filters=filters,
            limit=limit,
        )
        ctes, selects, args = ctes + v_ctes, selects + v_selects, args + v_args
        # Iterative scans keep reading the graph until enough rows pass the filters
        # (visibility among them); ef_search bounds the candidate list per step.
        # No parallel workers: the gated branch that is not run would start them anyway
        # (its one-time filter sits below the Gather), ~20 ms under load for nothing.
        prefix = (
            "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), "
            "set_config('hnsw.ef_search', %s, true), "
            "set_config('max_parallel_workers_per_gather', '0', true); "
        )
        prefix_args = [str(max(HNSW_EF_SEARCH, min(1000, limit * 4)))]
    if text is not None:
        k_ctes, k_selects, k_args = _keyword_sql(text=text, filters=filters, limit=limit)
        ctes, selects, args = ctes + k_ctes, selects + k_selects, args + k_args
    sql = prefix + "WITH " + ", ".join(ctes) + " " + " UNION ALL ".join(selects)
    return sql, [*prefix_args, *args], bool(prefix)


def fuse(vector: list[HistoryHit], keyword: list[HistoryHit], *, limit: int) -> list[HistoryHit]:
    scores: dict[str, float] = {}
    kept: dict[str, HistoryHit] = {}
    for position, hits in enumerate((vector, keyword)):
        for rank, hit in enumerate(hits, start=1):
            scores[hit.message_id] = scores.get(hit.message_id, 0.0) + 1 / (RRF_K + rank)
            chosen = kept.setdefault(hit.message_id, hit)
            if position == 0:
                chosen.vector_rank, chosen.similarity = rank, hit.similarity
            else:
                chosen.keyword_rank = rank
    ordered = sorted(scores, key=lambda mid: (-scores[mid], mid))[:limit]
    for mid in ordered:
        kept[mid].score = round(scores[mid], 6)
    return [kept[mid] for mid in ordered]


def embed_query(text: str, *, organization, user, channel: str = Channel.WEB):
    model = indexing.embedding_model()
    context = gateway.UsageContext(organization=organization, user=person(user), channel=channel)
    try:
        return model, gateway.ai_embed(model=model, texts=[text], context=context).vectors[0]
    except ProviderError as error:
        # The embedding provider failed: the one error format (503/429...), not a 500.
        raise as_domain_error(error) from error


def ranked(
    *, caller: Caller, query: HistoryQuery, organization, limit: int, channel: str = Channel.WEB
) -> list[HistoryHit]:
    filters = filters_sql(caller, query)
    vector_side: dict = {}
    if query.mode in ("vector", "hybrid"):
        model, embedding = embed_query(
            query.query, organization=organization, user=caller.user, channel=channel
        )
        vector_side = {
            "embedding": embedding,
            "dimensions": model.embedding_dimensions,
            "model_key": indexing.model_key(model),
        }
    vector_hits, keyword_hits = candidates(
        filters=filters,
        limit=limit,
        text=query.query if query.mode in ("keyword", "hybrid") else None,
        **vector_side,
    )
    if query.mode == "vector":
        for rank, hit in enumerate(vector_hits, start=1):
            hit.vector_rank = rank
        return vector_hits
    if query.mode == "keyword":
        for rank, hit in enumerate(keyword_hits, start=1):
            hit.keyword_rank = rank
        return keyword_hits
    return fuse(vector_hits, keyword_hits, limit=limit)


_WORD = re.compile(r"\w+", re.UNICODE)


def snippet(content: str, query: str) -> tuple[str, list[list[int]]]:
    """The passage of ``content`` with the most query words, and where they are in it
    (character ranges), for the dashboard to mark without rendering any HTML."""
    wanted = question_terms(query)
    spans = [
        (m.start(), m.end()) for m in _WORD.finditer(content) if question_terms(m.group()) & wanted
    ]
    if not spans:
        text = content[:SNIPPET_CHARS]
        return text + ("…" if len(content) > SNIPPET_CHARS else ""), []
    best_start, best_count = spans[0][0], 0
    for start, _ in spans:
        count = sum(1 for s, e in spans if start <= s and e <= start + SNIPPET_CHARS)
        if count > best_count:
            best_start, best_count = start, count
    begin = max(0, best_start - 60)
    # Start at a word boundary.
    while begin > 0 and content[begin - 1].isalnum():
        begin -= 1
    end = min(len(content), begin + SNIPPET_CHARS)
    prefix = "…" if begin > 0 else ""
    text = prefix + content[begin:end] + ("…" if end < len(content) else "")
    shift = len(prefix) - begin
    marks = [[s + shift, e + shift] for s, e in spans if s >= begin and e <= end]
    return text, marks


_DETAILS = """
SELECT m.id, m.session_id, m.role, m.content, m.created_at, s.title, s.source,
       prev.id, prev.role, left(prev.content, %s), prev.created_at,
       next.id, next.role, left(next.content, %s), next.created_at
FROM unnest(%s::uuid[]) AS r(id)
JOIN chat_message m ON m.id = r.id
JOIN chat_chatsession s ON s.id = m.session_id
LEFT JOIN LATERAL (
    SELECT p.id, p.role, p.content, p.created_at FROM chat_message p
    WHERE p.session_id = m.session_id AND p.role IN ('user', 'assistant')
      AND (p.created_at, p.id) < (m.created_at, m.id)
      AND NOT EXISTS (SELECT 1 FROM chat_message x WHERE x.parent_id = p.id)
    ORDER BY p.created_at DESC, p.id DESC LIMIT 1
) prev ON true
LEFT JOIN LATERAL (
    SELECT n.id, n.role, n.content, n.created_at FROM chat_message n
    WHERE n.session_id = m.session_id AND n.role IN ('user', 'assistant')
      AND (n.created_at, n.id) > (m.created_at, m.id)
      AND NOT EXISTS (SELECT 1 FROM chat_message x WHERE x.parent_id = n.id)
    ORDER BY n.created_at, n.id LIMIT 1
) next ON true
"""


# Neighbours are the turns the person saw: answers replaced by a regeneration (some
# newer answer's ``parent``) are skipped, as the chat history skips them.


def _turn(row) -> dict | None:
    if row[0] is None:
        return None
    return {"message_id": str(row[0]), "role": row[1], "content": row[2], "created_at": row[3]}


def add_details(hits: list[HistoryHit], query: str) -> list[HistoryHit]:
    """Fill in each hit's message, session, snippet and neighbouring turns (one query)."""
    if not hits:
        return hits
    with connection.cursor() as cursor:
        cursor.execute(_DETAILS, [NEIGHBOUR_CHARS, NEIGHBOUR_CHARS, [h.message_id for h in hits]])
        rows = {str(row[0]): row for row in cursor.fetchall()}
    for hit in hits:
        row = rows.get(hit.message_id)
        if row is None:
            continue
        hit.session_id, hit.role, hit.content, hit.created_at = str(row[1]), row[2], row[3], row[4]
        hit.session_title, hit.source = row[5], row[6]
        hit.snippet, hit.highlights = snippet(row[3], query)
        hit.before, hit.after = _turn(row[7:11]), _turn(row[11:15])
    return [h for h in hits if h.message_id in rows]


def history_search(*, caller: Caller, query: HistoryQuery, organization) -> HistoryPage:
    """One page of results, best first."""
    start = (query.page - 1) * query.page_size
    limit = min(start + query.page_size + 1, MAX_RESULTS + 1)
    hits = ranked(caller=caller, query=query, organization=organization, limit=limit)
    page = hits[start : start + query.page_size]
    has_more = len(hits) > start + query.page_size and start + query.page_size < MAX_RESULTS
    return HistoryPage(add_details(page, query.query), query.page, query.page_size, has_more)

"""Vector search: cosine distance on the per-dimension HNSW index."""

from __future__ import annotations

import threading
from collections import OrderedDict

from django.conf import settings
from django.db import connection

from assistants import gateway
from billing.models import Channel
from knowledge_base.models import Collection
from knowledge_base.retrieval.hits import (
    BASE_SELECT,
    CANDIDATE_SELECT,
    Hit,
    SearchFilters,
    filter_sql,
    rows_to_candidates,
    rows_to_hits,
)
from knowledge_base.vector_indexes import vector_distance_sql

# HNSW candidate list: 200 gives recall@10 >= 0.95 against exact search at 10k-100k
# chunks for about 2 ms more than pgvector's default of 40 (docs/benchmarks.md).
HNSW_EF_SEARCH = 200


def vector_search(
    *,
    embedding: list[float],
    dimensions: int,
    collection_ids: list,
    limit: int,
    filters: SearchFilters,
    with_text: bool = True,
) -> list[Hit]:
    """The ``limit`` chunks nearest to ``embedding``; ``with_text=False``: located and
    scored only (hydration.py reads the rest for the hits shown)."""
    distance = vector_distance_sql(dimensions)
    filters_sql, filter_params = filter_sql(filters)
    select = BASE_SELECT if with_text else CANDIDATE_SELECT
    sql = select.format(score=f"1 - {distance}", filters=filters_sql)
    sql += f" AND c.embedding_dimensions = {int(dimensions)} ORDER BY {distance} LIMIT %s"
    vector = str(list(embedding))
    params = [vector, [str(c) for c in collection_ids], *filter_params, vector, limit]
    # Iterative scans keep reading the HNSW graph until enough rows pass the filters;
    # ef_search bounds the candidate list per step. Both are set for this search only
    # (set_config's is_local): the two statements go in one message, which PostgreSQL
    # runs as one transaction (one round trip; a transaction of its own around them
    # cost three more: BEGIN, the settings, COMMIT). Inside a caller's transaction the
    # settings last until its end, as SET LOCAL always did.
    settings_sql = (
        "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), "
        "set_config('hnsw.ef_search', %s, true); "
    )
    ef_search = str(max(HNSW_EF_SEARCH, min(1000, limit * 4)))
    with connection.cursor() as cursor:
        cursor.execute(settings_sql + sql, [ef_search, *params])
        cursor.nextset()
        rows = cursor.fetchall()
    hits = rows_to_hits(rows) if with_text else rows_to_candidates(rows)
    # relaxed_order may return rows slightly out of order: restore it.
    return sorted(hits, key=lambda h: h.score, reverse=True)


def similarities(*, embedding: list[float], dimensions: int, chunk_ids: list[int]) -> dict:
    """Cosine similarity of the query to each of these chunks (by primary key)."""
    if not chunk_ids:
        return {}
    distance = vector_distance_sql(dimensions)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.id, 1 - {distance} FROM knowledge_base_documentchunk c "  # noqa: S608
            f"WHERE c.id = ANY(%s) AND c.embedding_dimensions = {int(dimensions)}",
            [str(list(embedding)), chunk_ids],
        )
        return {chunk_id: float(similarity) for chunk_id, similarity in cursor.fetchall()}


class QueryEmbeddingCache:
    """Recent query embeddings of this process, per organization and model: a repeated
    question (a follow-up, a retried turn, an evaluation run) is embedded once. Query
    embeddings are deterministic for a model, so a cached one is the same vector; it
    costs nothing and records no usage (nothing was sent to a provider)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[tuple, list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> list[float] | None:
        with self._lock:
            vector = self._entries.get(key)
            if vector is not None:
                self._entries.move_to_end(key)
            return vector

    def put(self, key: tuple, vector: list[float]) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._entries[key] = vector
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


query_embedding_cache = QueryEmbeddingCache(settings.KNOWLEDGE_QUERY_EMBEDDING_CACHE_SIZE)


def embed_query(
    query: str,
    collections: list[Collection],
    organization,
    user,
    usage: gateway.UsageContext | None = None,
) -> dict:
    """One query embedding per embedding model among the collections (cached). ``usage``
    says who the embedding is recorded for (channel, assistant, API key); by default the
    organization's ``user`` on the web."""
    vectors = {}
    for collection in collections:
        model = collection.embedding_model
        if model.pk in vectors:
            continue
        key = _cache_key(model, query)
        cached = query_embedding_cache.get(key)
        if cached is None:
            context = usage or gateway.UsageContext(
                organization=organization, user=user, channel=Channel.WEB
            )
            result = gateway.ai_embed(model=model, texts=[query], context=context)
            cached = list(result.vectors[0])
            query_embedding_cache.put(key, cached)
        vectors[model.pk] = cached
    return vectors


def _cache_key(model, query: str) -> tuple:
    return (connection.schema_name, model.pk, model.updated_at, query)


class PendingQueryEmbeddings:
    """``embed_query``'s result, being computed (``embed_query_start``)."""

    def __init__(self, ready: dict, pending: dict) -> None:
        self._ready = ready  # model pk -> vector (cached)
        self._pending = pending  # model pk -> (cache key, gateway.PendingEmbedding)

    def vectors(self) -> dict:
        """The same dict as ``result()``, from any thread, recording nothing: waits for
        the embeddings (the provider's error if one failed). The caller still takes
        ``result()`` (or ``settle()``) on its own thread, which records them."""
        found = dict(self._ready)
        for model_pk, (_, pending) in list(self._pending.items()):
            found[model_pk] = list(pending.vectors()[0])
        return found

    def result(self) -> dict:
        """{model pk: vector}; each new embedding recorded in the ledger (this thread)."""
        for model_pk, (key, pending) in list(self._pending.items()):
            del self._pending[model_pk]
            try:
                vector = list(pending.result().vectors[0])
            except BaseException:
                self.settle()  # the other models' embeddings are still recorded
                raise
            query_embedding_cache.put(key, vector)
            self._ready[model_pk] = vector
        return dict(self._ready)

    def settle(self) -> None:
        """The caller's own work failed: record what was embedded, raise nothing."""
        for _, pending in self._pending.values():
            pending.settle()
        self._pending.clear()


def embed_query_start(
    query: str,
    collections: list[Collection],
    organization,
    user,
    usage: gateway.UsageContext | None = None,
) -> PendingQueryEmbeddings:
    """``embed_query`` started: the embeddings not cached are computed in helper threads
    while the caller works (``gateway.ai_embed_start``); ``result()`` returns the same
    dict as ``embed_query``. Call ``settle()`` instead when giving up."""
    ready, pending = {}, {}
    for collection in collections:
        model = collection.embedding_model
        if model.pk in ready or model.pk in pending:
            continue
        key = _cache_key(model, query)
        cached = query_embedding_cache.get(key)
        if cached is not None:
            ready[model.pk] = cached
            continue
        context = usage or gateway.UsageContext(
            organization=organization, user=user, channel=Channel.WEB
        )
        try:
            started = gateway.ai_embed_start(model=model, texts=[query], context=context)
        except BaseException:
            PendingQueryEmbeddings({}, pending).settle()
            raise
        pending[model.pk] = (key, started)
    return PendingQueryEmbeddings(ready, pending)

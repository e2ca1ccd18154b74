"""Retrieval quality on BEIR SciFact: nDCG@10, recall@10 and recall@50 per search mode.

Run from the repository root: ``python bench/scifact.py``. The first run ingests the corpus
(6,340 chunks at 10-17 chunks/s on 2 cores: 7-11 min, more on a busy machine); later runs
reuse the ingested collection and take ~3 min. ``--reingest`` forces a fresh ingestion,
``--quick`` evaluates the first 100 test queries, ``--chunking parent_child`` (with
``--child-size`` / ``--parent-size``) ingests and evaluates a parent-child collection of its
own (ADR 0103: children searched, hits counted by their document as for flat chunks),
``--corpus-sample N`` ingests the documents judged for the evaluated queries plus others
up to N (a fixed, seeded sample; a smaller, easier collection: compare settings only at
the same sample), ``--tune`` tunes the fusion on train even
when hybrid already wins (+2 min), ``--keyword-experiments`` compares keyword rankers
(+12 min).

Ingestion goes through the real pipeline, in organization "benchscifact": collection
"scifact" on the local model (local/all-minilm-l6-v2), chunk size 400 tokens, overlap 40;
one document per corpus entry created with ``services.document_create_text`` (title = the
paper title, text = "title\\n\\nabstract", as BEIR embeds title + text), its BEIR id stored
in ``Document.metadata["beir_id"]``, processed in-process with
``ingestion.document_process`` (the Celery task's body; the enqueue is stubbed so a dev
worker cannot race us). 6,340 chunks: 1,072 abstracts are longer than one chunk.

Evaluation: the 300 test queries (qrels/test.tsv) through ``retrieval.search`` as the API
calls it (the query is embedded through the gateway), per mode, with top_k=10 for
nDCG@10/recall@10 and top_k=50 (the API maximum) for recall@50, reported instead of BEIR's
recall@100. Hits map to BEIR ids through their document; several chunks of one paper
count once, at the best-ranked chunk. Metrics are trec_eval's: nDCG with linear gain
(qrels are graded; SciFact's are all 1) and the ideal DCG from the query's qrels,
recall = relevant found / relevant judged; averaged over all queries of the split (a query
with no hit scores 0).

If hybrid does not beat both vector and keyword on nDCG@10 (or with ``--tune``), the fusion
weights and the RRF candidate pool are tuned on the TRAIN split only (809 queries), and the
test figures are reported again with the chosen setting.

Results: bench/results/scifact-<UTC stamp>.json and scifact-latest.json.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/common.py

import common

from knowledge_base.evaluation import metrics

ORG_SLUG = "benchscifact"
COLLECTION = "scifact"
CHUNK_SIZE = 400
CHUNK_OVERLAP = 40
QUICK_QUERIES = 100
MODES = ("vector", "keyword", "hybrid")
# Published nDCG@10 on the test split (shared/eval/README.md).
REFERENCES = {"keyword": ("BM25", 0.665), "vector": ("all-MiniLM-L6-v2", 0.645)}
# Tuning grid (train only). RRF ranks only depend on the ratio of the weights.
VECTOR_WEIGHTS = (0.25, 0.33, 0.5, 0.67, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
POOL_FACTORS = (1, 2, 3, 4, 6, 8, 10, 15, 20)  # candidates per list = top_k x factor
RRF_KS = (10, 20, 40, 60, 100)
RRF_K = 60  # retrieval.RRF_K
CANDIDATES = 10 * max(POOL_FACTORS)  # tuning is at top_k=10
# Keyword rankers compared by --keyword-experiments.
CURRENT = "keyword_search [current]"
BM25_EXACT = "bm25 exact (SQL)"
# ORDER BY expressions over the same OR tsquery knowledge_base/retrieval/keyword.py builds ({tsquery}).
RANKERS = {
    CURRENT: None,  # retrieval.keyword_search itself (BM25 since d8e00d6)
    # The ranking keyword_search used before d8e00d6: cover density, no IDF.
    "ts_rank_cd(32) [before d8e00d6]": "ts_rank_cd(c.search_vector, {tsquery}, 32)",
    "ts_rank(1)": "ts_rank(c.search_vector, {tsquery}, 1)",  # 1: divide by 1 + log(length)
    BM25_EXACT: None,  # BM25_SQL: every OR match scored, no candidate cap
}


# -- ingestion -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """The collection's chunking and corpus: each setup has its own collection."""

    chunking: str = "flat"
    chunk_size: int = CHUNK_SIZE
    chunk_overlap: int = CHUNK_OVERLAP
    parent_size: int = 1000
    corpus_sample: int | None = None

    @property
    def collection_name(self) -> str:
        if self == Setup():
            return COLLECTION
        name = f"{COLLECTION}-{self.chunking}-{self.chunk_size}-{self.chunk_overlap}"
        if self.chunking == "parent_child":
            name += f"-p{self.parent_size}"
        if self.corpus_sample:
            name += f"-sample{self.corpus_sample}"
        return name

    def describe(self) -> str:
        text = f"chunk {self.chunk_size}/{self.chunk_overlap}"
        if self.chunking == "parent_child":
            text = f"parent-child: children {self.chunk_size}/{self.chunk_overlap} in parents of {self.parent_size}"
        if self.corpus_sample:
            text += f"; corpus sample of {self.corpus_sample} documents (judged ones included)"
        return text


def sampled_corpus(corpus: list, qrels: dict, size: int | None) -> list:
    """The documents judged for ``qrels`` and a seeded sample of the others, to ``size``."""
    if not size:
        return corpus
    import random

    judged = {beir_id for relevance in qrels.values() for beir_id in relevance}
    others = [doc for doc in corpus if doc.beir_id not in judged]
    random.Random(19).shuffle(others)
    keep = judged | {doc.beir_id for doc in others[: max(0, size - len(judged))]}
    return [doc for doc in corpus if doc.beir_id in keep]


def expected_chunks(corpus: list[common.ScifactDoc], collection: Any) -> int:
    """What the pipeline will write: the same extraction and chunking, without embedding."""
    from knowledge_base import extraction
    from knowledge_base.embedding_windows import embedding_window
    from knowledge_base.ingestion import chunk_for_collection

    window = embedding_window(collection.embedding_model)
    total = 0
    for doc in corpus:
        extracted = extraction.extract(doc.document_text().encode(), "text/markdown")
        total += len(chunk_for_collection(collection, extracted, window))
    return total


def collection_problem(
    collection: Any, corpus: list, expected: int, setup: Setup = Setup()
) -> str | None:
    """Why the stored collection cannot be reused as is (None: it can)."""
    from knowledge_base.models import DocumentChunk, DocumentStatus

    stored = (collection.chunk_size, collection.chunk_overlap, collection.chunking)
    if stored != (setup.chunk_size, setup.chunk_overlap, setup.chunking):
        return "chunking differs"
    if setup.chunking == "parent_child" and collection.parent_size != setup.parent_size:
        return "chunking differs"
    documents = collection.documents.filter(status=DocumentStatus.COMPLETED)
    if documents.count() != len(corpus):
        return f"{documents.count()} of {len(corpus)} documents completed"
    chunks = DocumentChunk.objects.filter(collection=collection).count()
    if not chunks == collection.chunk_count == expected:
        return f"{chunks} chunks stored, {collection.chunk_count} counted, {expected} expected"
    return None


INGEST_BATCH = 64  # documents embedded together by --batched-ingestion


def ingest(
    collection: Any, corpus: list, organization: Any, batched: bool = False
) -> dict[str, Any]:
    """Create and process every document not completed yet (resumes an interrupted run).

    ``batched``: the pipeline's own steps with two shortcuts for a busy machine: extraction
    in this process (``extraction.extract``, the function the sandbox runs) instead of a
    child process per document, and the embedding of ``INGEST_BATCH`` documents' chunks in
    one local-embedder call (the same inputs, ``embedding_input``, the same model); each
    document's chunks are then written by the pipeline's transaction (``_write_chunks``:
    chunks, keyword index, BM25 statistics, counts) under the document's lease.
    """
    from knowledge_base import services
    from knowledge_base.ingestion import document_process
    from knowledge_base.models import Document, DocumentStatus

    stored = {
        d.metadata.get("beir_id"): d
        for d in Document.objects.filter(collection=collection).only(
            "id", "metadata", "status", "version"
        )
    }
    started = time.perf_counter()
    chunks = 0
    processed = 0
    pending: list = []
    for position, doc in enumerate(corpus, start=1):
        document = stored.get(doc.beir_id)
        if document is None:
            with common.no_celery_enqueue():
                outcome = services.document_create_text(
                    collection=collection, title=doc.title[:300], text=doc.document_text()
                )
            document = outcome.document or outcome.duplicate_of
            Document.objects.filter(pk=document.pk).update(metadata={"beir_id": doc.beir_id})
        elif document.status == DocumentStatus.COMPLETED:
            continue
        if batched:
            pending.append(document)
            if len(pending) >= INGEST_BATCH:
                chunks += ingest_batch(collection, pending)
                processed += len(pending)
                pending = []
        else:
            result = document_process(
                document_id=document.pk, version=document.version, organization=organization
            )
            chunks += result.chunks
            processed += 1
        if position % 500 == 0:
            elapsed = time.perf_counter() - started
            print(
                f"  {position}/{len(corpus)} documents, {chunks / elapsed:.1f} chunks/s", flush=True
            )
    if pending:
        chunks += ingest_batch(collection, pending)
        processed += len(pending)
    elapsed = time.perf_counter() - started
    return {
        "mode": "batched (in-process extraction, 64 documents per embedding call)"
        if batched
        else "document_process per document",
        "documents_processed": processed,
        "chunks_written": chunks,
        "seconds": round(elapsed, 1),
        "chunks_per_s": chunks / elapsed if elapsed else None,
    }


def ingest_batch(collection: Any, documents: list) -> int:
    from assistants.providers.local_embedder import get_local_embedder
    from knowledge_base import extraction, leases
    from knowledge_base.embedding_windows import embedding_input, embedding_window
    from knowledge_base.ingestion import _write_chunks, chunk_plan_for_collection
    from knowledge_base.models import Document

    window = embedding_window(collection.embedding_model)
    work = []
    for document in documents:
        document = Document.objects.select_related("collection").get(pk=document.pk)
        owner = f"bench-{document.pk}"
        if not leases.document_lease_claim(
            document_id=document.pk, version=document.version, owner=owner
        ):
            continue
        extracted = extraction.extract(document.text.encode(), document.content_type)
        plan = chunk_plan_for_collection(collection, extracted, window)
        work.append((document, owner, extracted, plan))
    texts = [
        embedding_input(document.title, c.section or "", c.text, window.count_tokens)
        for document, _, _, plan in work
        for c in plan.chunks
    ]
    vectors = get_local_embedder().embed(texts, batch_size=32).as_lists() if texts else []
    written = 0
    for document, owner, extracted, plan in work:
        pieces = plan.chunks
        mine, vectors = vectors[: len(pieces)], vectors[len(pieces) :]
        if _write_chunks(document, document.version, pieces, mine, extracted, owner, plan.parents):
            written += len(pieces)
    return written


def ready_collection(
    corpus: list,
    organization: Any,
    reingest: bool,
    batched: bool = False,
    setup: Setup = Setup(),
) -> tuple[Any, dict | None]:
    """The ingested collection, (re)ingesting when needed; and ingestion stats if it ran."""
    from knowledge_base import services

    name = setup.collection_name
    collection = common.collection_named(name)
    if collection is not None and reingest:
        common.delete_collection(name)
        collection = None
    if collection is not None and collection_problem(collection, [], 0, setup) == (
        "chunking differs"
    ):
        common.delete_collection(name)
        collection = None
    if collection is None:
        collection = services.collection_create(
            name=name,
            embedding_model=common.local_embedding_model(),
            chunk_size=setup.chunk_size,
            chunk_overlap=setup.chunk_overlap,
            chunking=setup.chunking,
            parent_size=setup.parent_size,
        )
    expected = expected_chunks(corpus, collection)
    problem = collection_problem(collection, corpus, expected, setup)
    if problem is None:
        print(f"reusing collection {name!r}: {len(corpus)} documents, {expected} chunks")
        return collection, None
    print(f"ingesting SciFact through the pipeline ({problem}); ~{expected / 17 / 60:.0f} min")
    stats = ingest(collection, corpus, organization, batched)
    collection.refresh_from_db()
    problem = collection_problem(collection, corpus, expected, setup)
    if problem is not None:
        raise RuntimeError(f"ingestion incomplete: {problem}")
    return collection, stats | {"chunks": expected}


# -- metrics ---------------------------------------------------------------------------------


# nDCG@k, recall@k and the reciprocal rank are the product's (knowledge_base/evaluation/
# metrics.py): the collection's Evaluation page computes its figures with the same code.
ndcg_at = metrics.ndcg_at
recall_at = metrics.recall_at


def unique_docs(chunk_ids: list[int], beir_by_chunk: dict[int, str]) -> list[str]:
    """BEIR ids in rank order, each paper at its best-ranked chunk."""
    return metrics.ranked_documents(beir_by_chunk[c] for c in chunk_ids)


def beir_ids_by_chunk(collection: Any) -> dict[int, str]:
    from knowledge_base.models import DocumentChunk

    rows = DocumentChunk.objects.filter(collection=collection).values_list(
        "id", "document__metadata__beir_id"
    )
    return dict(rows)


def questions_jsonl(
    queries: dict[str, str], qrels: dict[str, dict[str, int]], collection: Any
) -> str:
    """The split's questions as the product's question upload reads them (JSONL, documents
    named by id, graded): the collection's Evaluation page then runs them and shows the
    figures this bench prints (knowledge_base/evaluation/metrics.py computes both)."""
    import json

    from knowledge_base.models import Document

    ids = dict(
        Document.objects.filter(collection=collection).values_list("metadata__beir_id", "id")
    )
    lines = []
    for query_id, relevance in qrels.items():
        documents = [
            {"document": str(ids[beir_id]), "grade": grade}
            for beir_id, grade in relevance.items()
            if grade > 0 and beir_id in ids
        ]
        if documents:
            lines.append(json.dumps({"question": queries[query_id], "documents": documents}))
    return "\n".join(lines) + "\n"


# -- evaluation through the service ------------------------------------------------------------


@dataclass(frozen=True)
class Fusion:
    """How hybrid fuses: SearchParams' weights, the candidate pool per list, the RRF constant."""

    vector_weight: float = 1.0
    keyword_weight: float = 1.0
    pool_factor: int | None = (
        None  # candidates per list = top_k x this; None: search()'s max(top_k * 4, 40)
    )
    rrf_k: int = 60

    def is_default(self) -> bool:
        return self == Fusion()


def run_search(
    text: str,
    mode: str,
    top_k: int,
    collection: Any,
    organization: Any,
    fusion: Fusion,
    collapse: bool = False,
) -> list[int]:
    """Chunk ids, best first: retrieval.search() itself, or its steps when the pool or k differ.
    ``collapse``: the search API's collapse=document (documents ranked, top_k documents)."""
    from knowledge_base import retrieval

    if (
        collapse
        or mode != "hybrid"
        or (fusion.pool_factor is None and fusion.rrf_k == retrieval.RRF_K)
    ):
        params = retrieval.SearchParams(
            query=text,
            collections=[collection],
            mode=retrieval.SearchMode(mode),
            top_k=top_k,
            vector_weight=fusion.vector_weight,
            keyword_weight=fusion.keyword_weight,
            collapse=collapse,
        )
        return [hit.chunk_id for hit in retrieval.search(params, organization=organization)]
    return tuned_hybrid(text, top_k, collection, organization, fusion)


def tuned_hybrid(
    text: str, top_k: int, collection: Any, organization: Any, fusion: Fusion
) -> list[int]:
    """search()'s hybrid branch with another pool / RRF constant (both are not parameters)."""
    from knowledge_base import retrieval

    embedding = retrieval.embed_query(text, [collection], organization, None)
    pool = pool_size(fusion, top_k)
    filters = retrieval.SearchFilters()
    vector = retrieval.vector_search(
        embedding=embedding[collection.embedding_model_id],
        dimensions=collection.embedding_dimensions,
        collection_ids=[collection.id],
        limit=pool,
        filters=filters,
    )
    keyword = retrieval.keyword_search(
        query=text, collection_ids=[collection.id], limit=pool, filters=filters
    )
    fused = retrieval.reciprocal_rank_fusion(
        [(vector, fusion.vector_weight), (keyword, fusion.keyword_weight)],
        limit=top_k,
        k=fusion.rrf_k,
    )
    return [hit.chunk_id for hit in fused]


def evaluate(
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    mode: str,
    collection: Any,
    organization: Any,
    beir_by_chunk: dict[int, str],
    fusion: Fusion = Fusion(),
    collapse: bool = False,
) -> dict[str, Any]:
    started = time.perf_counter()
    ndcg, recall10, recall50, reciprocal = [], [], [], []
    for query_id, relevance in qrels.items():
        text = queries[query_id]
        top10 = unique_docs(
            run_search(text, mode, 10, collection, organization, fusion, collapse), beir_by_chunk
        )
        top50 = unique_docs(
            run_search(text, mode, 50, collection, organization, fusion, collapse), beir_by_chunk
        )
        score = metrics.question_score(top10, relevance)
        ndcg.append(score.ndcg_at_10)
        recall10.append(score.recall_at_10)
        reciprocal.append(score.reciprocal_rank)
        recall50.append(recall_at(top50, relevance, 50))
    return {
        "mode": mode,
        "queries": len(qrels),
        "ndcg@10": metrics.mean(ndcg),
        "recall@10": metrics.mean(recall10),
        "mrr@10": metrics.mean(reciprocal),
        "recall@50": metrics.mean(recall50),
        "ms_per_query_pair": 1000 * (time.perf_counter() - started) / len(qrels),
        "fusion": vars(fusion) if mode == "hybrid" else None,
        "collapse": "document" if collapse else None,
    }


# -- tuning on train ---------------------------------------------------------------------------

Lists = dict[str, tuple[list[int], list[int]]]  # query id -> (vector ids, keyword ids)


def vector_candidates(
    queries: dict[str, str], ids: list[str], collection: Any
) -> dict[str, list[int]]:
    """Per query, the vector top CANDIDATES through retrieval.vector_search, fetched once.

    Pools are prefixes of these lists: the same as a smaller search up to HNSW's
    approximation at another ef_search (this collection is small enough to be near exact).
    """
    from assistants.providers.local_embedder import get_local_embedder
    from knowledge_base import retrieval

    # The gateway's local provider calls this very embedder, so the vectors are identical.
    vectors = get_local_embedder().embed([queries[q] for q in ids]).as_lists()
    return {
        query_id: [
            hit.chunk_id
            for hit in retrieval.vector_search(
                embedding=vector,
                dimensions=collection.embedding_dimensions,
                collection_ids=[collection.id],
                limit=CANDIDATES,
                filters=retrieval.SearchFilters(),
            )
        ]
        for query_id, vector in zip(ids, vectors, strict=True)
    }


def candidate_lists(
    queries: dict[str, str], qrels: dict, collection: Any, ranker: str = CURRENT
) -> Lists:
    """Per query, vector and keyword candidates (CANDIDATES each); keyword prefixes are exact
    pools, as its order is total."""
    ids = list(qrels)
    dense = vector_candidates(queries, ids, collection)
    sparse = {q: keyword_ranked(ranker, queries[q], collection, CANDIDATES) for q in ids}
    return {q: (dense[q], sparse[q]) for q in ids}


def pool_size(fusion: Fusion, top_k: int) -> int:
    if fusion.pool_factor is None:
        return max(top_k * 4, 40)  # search()'s rule
    return top_k * fusion.pool_factor


def fuse_ids(dense: list[int], sparse: list[int], fusion: Fusion, top_k: int) -> list[int]:
    """reciprocal_rank_fusion on ids (same formula and tie-break: score desc, id asc)."""
    pool = pool_size(fusion, top_k)
    scores: dict[int, float] = {}
    for ranked, weight in (
        (dense[:pool], fusion.vector_weight),
        (sparse[:pool], fusion.keyword_weight),
    ):
        for rank, chunk_id in enumerate(ranked, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + weight / (fusion.rrf_k + rank)
    return sorted(scores, key=lambda c: (-scores[c], c))[:top_k]


def fused_ndcg(lists: Lists, qrels: dict, beir_by_chunk: dict[int, str], fusion: Fusion) -> float:
    scores = [
        ndcg_at(unique_docs(fuse_ids(*lists[q], fusion, 10), beir_by_chunk), qrels[q], 10)
        for q in qrels
    ]
    return float(np.mean(scores))


def list_metrics(
    ranked: dict[str, list[int]], qrels: dict, beir_by_chunk: dict[int, str]
) -> dict[str, float]:
    """nDCG@10 / recall@10 of one ranked list per query (its first 10 chunks)."""
    docs = {q: unique_docs(ranked[q][:10], beir_by_chunk) for q in qrels}
    return {
        "ndcg@10": float(np.mean([ndcg_at(docs[q], qrels[q], 10) for q in qrels])),
        "recall@10": float(np.mean([recall_at(docs[q], qrels[q], 10) for q in qrels])),
    }


def tune(lists: Lists, qrels: dict, beir_by_chunk: dict[int, str]) -> dict[str, Any]:
    """Best (weights, pool) at the default RRF k, and best overall, by train nDCG@10."""
    grid = [
        Fusion(vector_weight=w, pool_factor=p, rrf_k=k)
        for w, p, k in itertools.product(VECTOR_WEIGHTS, POOL_FACTORS, RRF_KS)
    ]
    scored = [(fused_ndcg(lists, qrels, beir_by_chunk, f), f) for f in grid]
    at_default_k = [item for item in scored if item[1].rrf_k == RRF_K]
    best_k60 = max(at_default_k, key=_preference)
    best_any = max(scored, key=_preference)
    chosen = best_k60[1]
    return {
        "train_queries": len(qrels),
        "default_train_ndcg@10": fused_ndcg(lists, qrels, beir_by_chunk, Fusion()),
        "best_k60": {"fusion": vars(best_k60[1]), "train_ndcg@10": best_k60[0]},
        "best_any_k": {"fusion": vars(best_any[1]), "train_ndcg@10": best_any[0]},
        # How flat the optimum is: the best score per weight, and per pool at the chosen weight.
        "train_ndcg@10_by_vector_weight_k60": {
            w: max(s for s, f in at_default_k if f.vector_weight == w) for w in VECTOR_WEIGHTS
        },
        "train_ndcg@10_by_pool_factor_at_chosen_weight": {
            p: next(
                s
                for s, f in at_default_k
                if f.vector_weight == chosen.vector_weight and f.pool_factor == p
            )
            for p in POOL_FACTORS
        },
        "chosen": chosen,
    }


def _preference(item: tuple[float, Fusion]) -> tuple[float, float]:
    # Scores equal to 4 decimals: prefer the setting nearest the defaults (weight 1, pool 4x).
    score, fusion = item
    distance = abs(math.log(fusion.vector_weight)) + abs(math.log((fusion.pool_factor or 4) / 4))
    return round(score, 4), -distance


# -- keyword ranking experiments (--keyword-experiments) ------------------------------------------

BM25_K1, BM25_B = 1.2, 0.75  # the usual defaults, not tuned

# Okapi BM25 in SQL, as a reference for knowledge_base/retrieval/keyword.py's approximation (which scores at most
# 300 candidates picked by ts_rank over the informative words, with token_count lengths):
# document frequencies from ts_stat over the collection (a temp table built per run), term
# frequencies and lengths from the tsvector positions, every chunk matching any query word
# scored. Exact but slow.
BM25_SQL = """
    WITH q AS (SELECT DISTINCT lexeme FROM unnest(tsvector_to_array(to_tsvector('english', %(query)s))) lexeme)
    SELECT c.id
    FROM knowledge_base_documentchunk c
    JOIN knowledge_base_document d ON d.id = c.document_id
    CROSS JOIN LATERAL unnest(c.search_vector) u
    JOIN q ON q.lexeme = u.lexeme
    JOIN pg_temp.bench_idf i ON i.lexeme = u.lexeme
    WHERE d.status = 'completed' AND c.collection_id = %(collection)s AND c.search_vector @@ {tsquery}
    GROUP BY c.id
    ORDER BY sum(i.idf * (cardinality(u.positions) + cardinality(array_remove(u.weights, 'D')))
                 * (%(k1)s + 1)
                 / ((cardinality(u.positions) + cardinality(array_remove(u.weights, 'D')))
                    + %(k1)s * (1 - %(b)s + %(b)s * c.search_length / %(average)s))) DESC, c.id
    LIMIT %(limit)s
"""


def bm25_statistics(collection: Any) -> float:
    """A temp table of IDF over the collection's chunks (ts_stat: counted from scratch,
    not from the incremental statistics); returns the average chunk length."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS pg_temp.bench_idf")
        cursor.execute(
            "SELECT count(*), avg(search_length) FROM knowledge_base_documentchunk "
            "WHERE collection_id = %s",
            [collection.id],
        )
        count, average = cursor.fetchone()
        # ts_stat takes the query as text: the collection id is a UUID we produced, not input.
        inner = (
            "SELECT search_vector FROM knowledge_base_documentchunk "
            f"WHERE collection_id = '{collection.id}'"
        )
        cursor.execute(
            "CREATE TEMP TABLE bench_idf AS SELECT word AS lexeme, "
            "ln(1 + (%s - ndoc + 0.5) / (ndoc + 0.5)) AS idf FROM ts_stat(%s)",
            [count, inner],
        )
        cursor.execute("CREATE INDEX ON pg_temp.bench_idf (lexeme)")
    return float(average)


def exact_check(
    queries: dict[str, str], qrels: dict, collection: Any, beir_by_chunk: dict[int, str]
) -> dict[str, Any]:
    """keyword_search against exact BM25 (every matching chunk scored, statistics counted
    from scratch) at depth 50: recall@50 of each, and how often the lists agree."""
    average = bm25_statistics(collection)
    recall = {"keyword_search": [], "exact": []}
    same = 0
    for q in qrels:
        ours = keyword_ranked(CURRENT, queries[q], collection, 50)
        exact = keyword_ranked(BM25_EXACT, queries[q], collection, 50, average)
        same += ours == exact
        for name, ranked in (("keyword_search", ours), ("exact", exact)):
            recall[name].append(recall_at(unique_docs(ranked, beir_by_chunk), qrels[q], 50))
    result = {name: float(np.mean(values)) for name, values in recall.items()}
    return {
        "recall@50": result,
        "difference": result["exact"] - result["keyword_search"],
        "identical_top50_share": same / len(qrels),
    }


def keyword_ranked(
    ranker: str, query: str, collection: Any, limit: int, average: float = 0.0
) -> list[int]:
    """Chunk ids best first under ``ranker``, over the tsquery knowledge_base/retrieval/keyword.py builds."""
    from django.db import connection

    from knowledge_base import retrieval

    if ranker == CURRENT:
        hits = retrieval.keyword_search(
            query=query,
            collection_ids=[collection.id],
            limit=limit,
            filters=retrieval.SearchFilters(),
        )
        return [hit.chunk_id for hit in hits]
    tsquery = retrieval.tsquery_sql(query).replace("%s", "%(query)s")
    if ranker == BM25_EXACT:
        sql = BM25_SQL.format(tsquery=tsquery)
    else:
        sql = (
            "SELECT c.id FROM knowledge_base_documentchunk c "
            "JOIN knowledge_base_document d ON d.id = c.document_id "
            "WHERE d.status = 'completed' AND c.collection_id = %(collection)s "
            f"AND c.search_vector @@ {tsquery} "
            f"ORDER BY {RANKERS[ranker].format(tsquery=tsquery)} DESC, c.id LIMIT %(limit)s"
        )
    params = {
        "query": query,
        "collection": collection.id,
        "limit": limit,
        "k1": BM25_K1,
        "b": BM25_B,
        "average": average,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def keyword_experiments(
    queries: dict[str, str], collection: Any, beir_by_chunk: dict[int, str]
) -> list[dict]:
    """Each keyword ranker alone and fused with vector, its fusion tuned on train, scored on test."""
    splits = {split: common.scifact_qrels(split) for split in ("train", "test")}
    average = bm25_statistics(collection)
    dense = {s: vector_candidates(queries, list(q), collection) for s, q in splits.items()}
    rows = []
    for ranker in RANKERS:
        started = time.perf_counter()
        sparse = {
            s: {
                q: keyword_ranked(ranker, queries[q], collection, CANDIDATES, average)
                for q in qrels
            }
            for s, qrels in splits.items()
        }
        lists = {s: {q: (dense[s][q], sparse[s][q]) for q in qrels} for s, qrels in splits.items()}
        tuning = tune(lists["train"], splits["train"], beir_by_chunk)
        chosen = tuning.pop("chosen")
        rows.append(
            {
                "ranker": ranker,
                "keyword": {
                    s: list_metrics(sparse[s], q, beir_by_chunk) for s, q in splits.items()
                },
                "hybrid_default": {
                    s: fused_ndcg(lists[s], q, beir_by_chunk, Fusion()) for s, q in splits.items()
                },
                "hybrid_tuned": {
                    s: fused_ndcg(lists[s], q, beir_by_chunk, chosen) for s, q in splits.items()
                },
                "tuned_fusion": vars(chosen),
                "tuning": tuning,
                "ms_per_keyword_query": 1000
                * (time.perf_counter() - started)
                / sum(map(len, splits.values())),
            }
        )
        print(
            f"  {ranker}: test keyword nDCG@10 {rows[-1]['keyword']['test']['ndcg@10']:.3f}",
            flush=True,
        )
    return rows


# -- report ---------------------------------------------------------------------------------------


def print_results(rows: list[dict]) -> None:
    headers = [
        "mode",
        "setting",
        "nDCG@10",
        "recall@10",
        "recall@50",
        "reference nDCG@10",
        "vs ref",
    ]
    table = []
    for r in rows:
        name, value = REFERENCES.get(r["mode"], ("-", None))
        table.append(
            [
                r["mode"],
                r.get("label", "default"),
                r["ndcg@10"],
                r["recall@10"],
                r["recall@50"],
                f"{name} {value}" if value else "-",
                f"{r['ndcg@10'] - value:+.3f}" if value else "-",
            ]
        )
    print()
    common.print_table(headers, table)


def print_tuning(tuning: dict) -> None:
    best, default = tuning["best_k60"], tuning["default_train_ndcg@10"]
    print(
        f"\ntuning on train ({tuning['train_queries']} queries): default fusion nDCG@10 {default:.3f}"
    )
    print(f"  best at k=60: {best['fusion']} -> {best['train_ndcg@10']:.3f}")
    print(
        f"  best any k:   {tuning['best_any_k']['fusion']} -> {tuning['best_any_k']['train_ndcg@10']:.3f}"
    )
    by_weight = tuning["train_ndcg@10_by_vector_weight_k60"]
    print("  best by vector weight: " + ", ".join(f"{w}: {v:.3f}" for w, v in by_weight.items()))
    by_pool = tuning["train_ndcg@10_by_pool_factor_at_chosen_weight"]
    print(
        "  by pool factor (chosen weight): "
        + ", ".join(f"{p}: {v:.3f}" for p, v in by_pool.items())
    )


def print_experiments(rows: list[dict]) -> None:
    headers = [
        "keyword ranker",
        "kw train",
        "kw test",
        "hybrid default train",
        "hybrid default test",
        "tuned fusion (train)",
        "hybrid tuned train",
        "hybrid tuned test",
        "ms/query",
    ]
    table = [
        [
            r["ranker"],
            r["keyword"]["train"]["ndcg@10"],
            r["keyword"]["test"]["ndcg@10"],
            r["hybrid_default"]["train"],
            r["hybrid_default"]["test"],
            "w_v={vector_weight} pool={pool_factor}x k={rrf_k}".format(**r["tuned_fusion"]),
            r["hybrid_tuned"]["train"],
            r["hybrid_tuned"]["test"],
            r["ms_per_keyword_query"],
        ]
        for r in rows
    ]
    print("\nkeyword ranking experiments, nDCG@10 (fusion offline over cached candidate lists)")
    common.print_table(headers, table)


def hybrid_beats_both(results: dict[str, dict]) -> bool:
    return results["hybrid"]["ndcg@10"] > max(
        results["vector"]["ndcg@10"], results["keyword"]["ndcg@10"]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"first {QUICK_QUERIES} test queries")
    parser.add_argument("--reingest", action="store_true", help="drop and ingest the corpus again")
    parser.add_argument(
        "--batched-ingestion",
        action="store_true",
        help="ingest with in-process extraction and 64 documents per embedding call "
        "(the pipeline's steps otherwise; for a busy machine)",
    )
    parser.add_argument("--tune", action="store_true", help="tune hybrid on train even if it wins")
    parser.add_argument(
        "--chunking",
        choices=["flat", "parent_child"],
        default="flat",
        help="the collection's chunking (ADR 0103); each setting has its own collection",
    )
    parser.add_argument(
        "--child-size",
        type=int,
        default=None,
        help=f"searched chunk size (default {CHUNK_SIZE}; the window bounds it)",
    )
    parser.add_argument("--overlap", type=int, default=None, help=f"default {CHUNK_OVERLAP}")
    parser.add_argument("--parent-size", type=int, default=1000, help="parent_child: parents' size")
    parser.add_argument(
        "--corpus-sample",
        type=int,
        default=None,
        metavar="N",
        help="ingest the judged documents of the evaluated queries plus others up to N",
    )
    parser.add_argument(
        "--keyword-experiments",
        action="store_true",
        help="compare keyword rankers (current, pre-BM25 ts_rank_cd, ts_rank, exact BM25 in "
        "SQL), each fused and tuned on train (~12 min)",
    )
    parser.add_argument(
        "--export-questions",
        metavar="PATH",
        help="write the test questions as JSONL for the collection's Evaluation page "
        "(upload it there; the page's run shows this bench's figures), then stop",
    )
    args = parser.parse_args()

    common.setup_django()
    from django_tenants.utils import schema_context

    from core.tenancy import current_organization

    common.benchmark_organization(ORG_SLUG, "Benchmark: SciFact")
    started = time.perf_counter()
    corpus = common.scifact_corpus()
    queries = common.scifact_queries()
    qrels = common.scifact_qrels("test")
    if args.quick:
        qrels = dict(list(qrels.items())[:QUICK_QUERIES])
    setup = Setup(
        chunking=args.chunking,
        chunk_size=args.child_size or CHUNK_SIZE,
        chunk_overlap=CHUNK_OVERLAP if args.overlap is None else args.overlap,
        parent_size=args.parent_size,
        corpus_sample=args.corpus_sample,
    )
    corpus = sampled_corpus(corpus, qrels, setup.corpus_sample)
    with schema_context(ORG_SLUG):
        organization = current_organization()
        collection, ingestion = ready_collection(
            corpus, organization, args.reingest, args.batched_ingestion, setup
        )
        if args.export_questions:
            Path(args.export_questions).write_text(questions_jsonl(queries, qrels, collection))
            print(f"{len(qrels)} questions written to {args.export_questions}")
            return 0
        beir_by_chunk = beir_ids_by_chunk(collection)
        results = {}
        for mode in MODES:
            results[mode] = evaluate(queries, qrels, mode, collection, organization, beir_by_chunk)
            print(f"  {mode}: nDCG@10 {results[mode]['ndcg@10']:.3f}", flush=True)
        rows = list(results.values())
        # What an API client searching documents gets (collapse=document): each list ranks
        # documents, and a document's two ranks are fused whichever chunks they came from.
        for mode in MODES:
            row = evaluate(
                queries, qrels, mode, collection, organization, beir_by_chunk, collapse=True
            )
            row["label"] = "collapse=document"
            rows.append(row)
            print(f"  {mode}, collapse=document: nDCG@10 {row['ndcg@10']:.3f}", flush=True)
        tuning = None
        # Tuning reads the train split's judged documents: not in a sample's corpus.
        if not setup.corpus_sample and (args.tune or not hybrid_beats_both(results)):
            print("tuning hybrid fusion on the train split", flush=True)
            train = common.scifact_qrels("train")
            started_tuning = time.perf_counter()
            tuning = tune(candidate_lists(queries, train, collection), train, beir_by_chunk)
            tuning["seconds"] = round(time.perf_counter() - started_tuning, 1)
            chosen = tuning.pop("chosen")
            tuned = evaluate(
                queries, qrels, "hybrid", collection, organization, beir_by_chunk, chosen
            )
            tuned["label"] = (
                f"tuned on train: w_v={chosen.vector_weight}, w_k=1, pool=top_k x {chosen.pool_factor}, k={chosen.rrf_k}"
            )
            rows.append(tuned)
        exact = exact_check(queries, qrels, collection, beir_by_chunk)
        print(
            f"  recall@50: keyword_search {exact['recall@50']['keyword_search']:.4f}, "
            f"exact BM25 {exact['recall@50']['exact']:.4f} (identical top 50 on "
            f"{exact['identical_top50_share']:.0%} of queries)",
            flush=True,
        )
        experiments = None
        if args.keyword_experiments:
            print("keyword ranking experiments (train and test)", flush=True)
            experiments = keyword_experiments(queries, collection, beir_by_chunk)
    print_results(rows)
    if tuning:
        print_tuning(tuning)
    if experiments:
        print_experiments(experiments)
    common.write_results(
        "scifact"
        if setup == Setup()
        else f"scifact-{setup.collection_name[len(COLLECTION) + 1 :]}",
        {
            "method": (
                f"BEIR SciFact test split through retrieval.search; {setup.describe()}; "
                "text = title + blank line + abstract; top_k=10 for nDCG@10/recall@10, "
                "top_k=50 for recall@50; hits deduplicated to papers at their best chunk"
            ),
            "quick": args.quick,
            "setup": vars(setup),
            "corpus_documents": len(corpus),
            "references_ndcg@10": REFERENCES,
            "ingestion": ingestion,
            "results": rows,
            "hybrid_beats_both": hybrid_beats_both(results),
            "keyword_vs_exact_bm25": exact,
            "tuning": tuning,
            "keyword_experiments": experiments,
            "elapsed_s": round(time.perf_counter() - started, 1),
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What the reranking stage (ADR 0100) adds to a hybrid search, on SciFact.

Run from the repository root: ``python bench/rerank.py`` (1,000 SciFact documents, 150
test queries, ~10 min the first time on 2 cores, ingestion included); ``--quick`` takes
300 documents and 50 queries (~3 min the first time).

No real cross-encoder runs here: none can be shipped offline (no wheel on PyPI carries
one's weights; docs/adr/0100-reranking.md lists the ones inspected) and nothing may be
downloaded at run time. So the reranker is the test-suite's local fake server
(assistants/tests/providers/fake_server.py) speaking both ``/rerank`` wire formats over
real HTTP, through the outbound policy, scoring each candidate by the share of the
question's words it contains -- a lexical stand-in, not a cross-encoder. What this
measures is therefore the stage's cost: the request built from the candidates, the HTTP
round trip (JSON of up to 100 chunks each way), the reordering and the usage row,
against the same search without it. Its nDCG@10 is reported for the plumbing only
(it says nothing about what a real cross-encoder would do).

Data: organization "benchrerank", collection "rerank-<docs>": the first ``--docs``
SciFact documents in corpus order plus every document relevant to the evaluated test
queries (so each query has its answers in the collection), ingested with the platform's
pipeline (local embedder). Queries: the first ``--queries`` SciFact test queries.

Per query, after one warm-up pass (query embeddings cached, as in production for a
repeated question): ``search_with_outcome(hybrid, top_k=10)`` without reranking, then with
the TEI-format reranker at 30 and 100 candidates and the Cohere-format one at 30,
alternating. Reported: p50/p95 of each, the added p50, and the reranker's own HTTP time
(the outcome's ``latency_ms``).

Results: bench/results/rerank-<UTC stamp>.json and rerank-latest.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/common.py

import common

ORG_SLUG = "benchrerank"
TOP_K = 10
ARMS = [
    ("none", None, 0),
    ("tei-30", "tei", 30),
    ("tei-100", "tei", 100),
    ("cohere-30", "cohere", 30),
]


def corpus_for(doc_count: int, query_ids: list[str], qrels: dict) -> list[common.ScifactDoc]:
    corpus = common.scifact_corpus()
    wanted = {doc for qid in query_ids for doc in qrels[qid]}
    head = corpus[:doc_count]
    chosen = {d.beir_id for d in head}
    return head + [d for d in corpus if d.beir_id in wanted and d.beir_id not in chosen]


def ready_collection(name: str, corpus: list, organization: Any) -> Any:
    import scifact

    from knowledge_base import services

    collection = common.collection_named(name)
    if collection is None:
        collection = services.collection_create(
            name=name,
            embedding_model=common.local_embedding_model(),
            chunk_size=scifact.CHUNK_SIZE,
            chunk_overlap=scifact.CHUNK_OVERLAP,
        )
    stats = scifact.ingest(collection, corpus, organization, batched=True)
    print(f"collection {name!r}: {stats['documents_processed']} documents ingested now", flush=True)
    return common.collection_named(name)


def rerankers(server_url: str) -> dict[str, Any]:
    from assistants import services
    from assistants.models import Reranker

    found = {}
    for api_format in ("tei", "cohere"):
        reranker = Reranker.objects.filter(name=f"bench {api_format}").first()
        if reranker is not None:
            reranker.delete()  # the fake server's port changes every run
        found[api_format] = services.reranker_create(
            name=f"bench {api_format}",
            api_format=api_format,
            base_url=server_url,
            model="bench-reranker" if api_format == "cohere" else "",
        )
    return found


def run(args: argparse.Namespace) -> dict[str, Any]:
    from django.test import override_settings
    from django_tenants.utils import schema_context

    from assistants.tests.providers.fake_server import FakeProviderServer
    from knowledge_base import retrieval

    qrels = common.scifact_qrels("test")
    queries = common.scifact_queries()
    query_ids = list(qrels)[: args.queries]
    organization = common.benchmark_organization(ORG_SLUG, "Rerank bench")
    server = FakeProviderServer(api_key=None).start()
    # The fake reranker listens on loopback, which the outbound policy refuses by default.
    with (
        schema_context(ORG_SLUG),
        override_settings(OUTBOUND_ALLOWED_NETWORKS=["127.0.0.0/8"]),
    ):
        corpus = corpus_for(args.docs, query_ids, qrels)
        collection = ready_collection(f"rerank-{args.docs}", corpus, organization)
        import scifact

        beir_by_chunk = scifact.beir_ids_by_chunk(collection)
        by_format = rerankers(server.url)

        def search(text: str, arm: tuple) -> tuple[float, Any]:
            _, api_format, candidates = arm
            rerank = retrieval.Rerank(by_format[api_format], candidates) if api_format else None
            params = retrieval.SearchParams(
                query=text, collections=[collection], top_k=TOP_K, rerank=rerank
            )
            return common.timed(
                lambda: retrieval.search_with_outcome(params, organization=organization)
            )

        for qid in query_ids:  # warm-up: query embeddings cached, connections open
            for arm in ARMS:
                search(queries[qid], arm)
        seconds: dict[str, list[float]] = {arm[0]: [] for arm in ARMS}
        http_ms: dict[str, list[float]] = {arm[0]: [] for arm in ARMS}
        ndcg: dict[str, list[float]] = {arm[0]: [] for arm in ARMS}
        skipped = 0
        for position, qid in enumerate(query_ids):
            arms = ARMS if position % 2 == 0 else ARMS[::-1]
            for arm in arms:
                elapsed, result = search(queries[qid], arm)
                seconds[arm[0]].append(elapsed)
                if result.rerank is not None:
                    http_ms[arm[0]].append(result.rerank.latency_ms)
                    skipped += not result.rerank.applied
                ranked = scifact.unique_docs([h.chunk_id for h in result.hits], beir_by_chunk)
                ndcg[arm[0]].append(scifact.ndcg_at(ranked, qrels[qid], TOP_K))
    server.stop()
    base = common.latency_summary(seconds["none"])
    rows = []
    for name, api_format, candidates in ARMS:
        summary = common.latency_summary(seconds[name])
        rows.append(
            {
                "arm": name,
                "format": api_format or "-",
                "candidates": candidates,
                **{k: round(v, 2) for k, v in summary.items() if k != "n"},
                "added_p50_ms": round(summary["p50_ms"] - base["p50_ms"], 2),
                "reranker_http_p50_ms": round(float(np.median(http_ms[name])), 2)
                if http_ms[name]
                else None,
                "ndcg@10_stand_in": round(float(np.mean(ndcg[name])), 4),
            }
        )
    return {
        "docs": len(corpus),
        "chunks": len(beir_by_chunk),
        "queries": len(query_ids),
        "top_k": TOP_K,
        "reranker": "local fake server (both /rerank wire formats), word-overlap score: a "
        "stand-in, not a cross-encoder; nDCG figures test the plumbing only",
        "skipped_rerankings": skipped,
        "rows": rows,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="300 documents, 50 queries")
    parser.add_argument("--docs", type=int, help="SciFact documents (default 1000)")
    parser.add_argument("--queries", type=int, help="test queries (default 150)")
    args = parser.parse_args()
    args.docs = args.docs or (300 if args.quick else 1000)
    args.queries = args.queries or (50 if args.quick else 150)
    common.setup_django()
    started = time.perf_counter()
    report = run(args)
    common.print_table(
        ["arm", "p50 ms", "p95 ms", "added p50 ms", "reranker HTTP p50 ms", "nDCG@10 (stand-in)"],
        [
            [
                r["arm"],
                r["p50_ms"],
                r["p95_ms"],
                r["added_p50_ms"],
                r["reranker_http_p50_ms"] if r["reranker_http_p50_ms"] is not None else "-",
                r["ndcg@10_stand_in"],
            ]
            for r in report["rows"]
        ],
    )
    print(
        f"{report['queries']} queries over {report['docs']} documents ({report['chunks']} "
        f"chunks); rerankings skipped: {report['skipped_rerankings']}"
    )
    report["seconds"] = round(time.perf_counter() - started, 1)
    name = "rerank-quick" if args.quick else "rerank"
    path = common.write_results(name, {"quick": args.quick, **report})
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

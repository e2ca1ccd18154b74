"""Keyword and hybrid search, this checkout against an earlier commit's keyword search, A/B.

Run from the repository root after ``bench/search.py`` has built its collections:
``python bench/search_ab.py --ref 58f513d`` (``--size 100k``, ``--queries 50``).

On a shared machine the load changes from minute to minute, so two runs of
``bench/search.py`` minutes apart compare the load as much as the code. Here both versions
run in one process on the same collection and the same SciFact test queries, alternating
per query (ABBA): the reference is ``knowledge_base/retrieval/keyword.py`` as it was at
``--ref`` (read with ``git show``, loaded as a module beside the current one), and hybrid
swaps only its keyword side. The query embedding is precomputed (as in bench/search.py),
so embedding time is on neither side. Each query's results are compared too: the chunk
ids, in order, must be equal (both are exact BM25).

Results: bench/results/search-ab-<UTC stamp>.json and search-ab-latest.json.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import types
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/common.py, bench/search.py

import common
import search


def reference_keyword(ref: str) -> types.ModuleType:
    source = subprocess.run(
        ["git", "show", f"{ref}:knowledge_base/retrieval/keyword.py"],
        cwd=common.ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    module = types.ModuleType("keyword_reference")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{ref}:keyword.py", "exec"), module.__dict__)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", required=True, help="the commit to compare with")
    parser.add_argument("--size", default="100k", choices=sorted(search.SIZES))
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()

    common.setup_django()
    from django_tenants.utils import schema_context

    from core.tenancy import current_organization
    from knowledge_base import retrieval
    from knowledge_base.retrieval import hybrid

    reference = reference_keyword(args.ref)
    queries = search.load_queries(args.queries)
    with schema_context(search.ORG_SLUG):
        organization = current_organization()
        collection = search.collection_ready(f"search-{args.size}", search.SIZES[args.size])
        if collection is None:
            raise SystemExit(f"build the {args.size} collection first: bench/search.py")
        filters = retrieval.SearchFilters()

        def keyword_call(function, query):
            return lambda: function(
                query=query.text,
                collection_ids=[collection.id],
                limit=search.TOP_K,
                filters=filters,
            )

        def hybrid_call(function, query):
            params = retrieval.SearchParams(
                query=query.text,
                collections=[collection],
                mode=retrieval.SearchMode.HYBRID,
                top_k=search.TOP_K,
            )

            def call():
                with mock.patch.object(hybrid, "keyword_search", function):
                    return retrieval.search(params, organization=organization)

            return call

        modes = {}
        with search.precomputed_embeddings(collection, queries):
            for mode, make in (("keyword", keyword_call), ("hybrid", hybrid_call)):
                times = {"reference": [], "current": []}
                differ = 0
                for i, query in enumerate(queries):
                    pair = [
                        ("reference", make(reference.keyword_search, query)),
                        ("current", make(retrieval.keyword_search, query)),
                    ]
                    pair[0][1](), pair[1][1]()  # warm-up: buffers, code paths
                    found = {}
                    for side, call in pair if i % 2 == 0 else reversed(pair):
                        seconds, hits = common.timed(call)
                        times[side].append(seconds)
                        found[side] = [h.chunk_id for h in hits]
                    differ += found["reference"] != found["current"]
                summary = {side: common.latency_summary(t) for side, t in times.items()}
                summary["speedup_p50"] = (
                    summary["reference"]["p50_ms"] / summary["current"]["p50_ms"]
                )
                summary["queries_with_different_results"] = differ
                modes[mode] = summary
                print(
                    f"{args.size} {mode}: reference p50 {summary['reference']['p50_ms']:.1f} ms, "
                    f"current {summary['current']['p50_ms']:.1f} ms "
                    f"(x{summary['speedup_p50']:.2f}); different results: {differ}",
                    flush=True,
                )
    common.print_table(
        ["mode", "n", "ref p50", "ref p95", "current p50", "current p95", "speed-up", "differ"],
        [
            [
                mode,
                s["current"]["n"],
                s["reference"]["p50_ms"],
                s["reference"]["p95_ms"],
                s["current"]["p50_ms"],
                s["current"]["p95_ms"],
                s["speedup_p50"],
                s["queries_with_different_results"],
            ]
            for mode, s in modes.items()
        ],
    )
    common.write_results(
        "search-ab",
        {"ref": args.ref, "size": args.size, "queries": len(queries), "modes": modes},
    )
    return 0 if all(s["queries_with_different_results"] == 0 for s in modes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

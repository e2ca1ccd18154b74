"""Keyword and hybrid search, this checkout against an earlier commit's, A/B.

Run from the repository root after ``bench/search.py`` has built its collections:
``python bench/search_ab.py --ref 58f513d`` (``--size 100k``, ``--queries 50``).

On a shared machine the load changes from minute to minute, so two runs of
``bench/search.py`` minutes apart compare the load as much as the code. Here both versions
run in one process on the same collection and the same SciFact test queries, alternating
per query (ABBA): the reference is the package ``knowledge_base/retrieval/`` as it was at
``--ref`` (read with ``git show``, imported beside the current one as
``retrieval_reference``). Modes: keyword (``keyword_search``, limit 10) and hybrid
(``search``, top 10, snippets included). The query embedding is precomputed (as in
bench/search.py), so embedding time is on neither side. Each query's results are compared
too and must be identical: chunk ids in order, scores, vector and keyword ranks, text,
title, pages, section and snippet.

Results: bench/results/search-ab-<UTC stamp>.json and search-ab-latest.json.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.abc
import importlib.util
import subprocess
import sys
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/common.py, bench/search.py

import common
import search

REFERENCE = "retrieval_reference"
PACKAGE = "knowledge_base.retrieval"


class _GitSource(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports ``retrieval_reference[.module]`` from the package's files at a commit, with
    its imports of itself renamed, so both versions live in one process."""

    def __init__(self, ref: str) -> None:
        self.ref = ref

    def _source(self, name: str) -> tuple[str, bool] | None:
        relative = name[len(REFERENCE) :].lstrip(".").replace(".", "/")
        folder = "knowledge_base/retrieval" + (f"/{relative}" if relative else "")
        for path, package in ((f"{folder}/__init__.py", True), (f"{folder}.py", False)):
            shown = subprocess.run(
                ["git", "show", f"{self.ref}:{path}"],
                cwd=common.ROOT,
                capture_output=True,
                text=True,
            )
            if shown.returncode == 0:
                return shown.stdout.replace(PACKAGE, REFERENCE), package
        return None

    def find_spec(self, name, path=None, target=None):
        if name != REFERENCE and not name.startswith(REFERENCE + "."):
            return None
        found = self._source(name)
        if found is None:
            return None
        source, package = found
        spec = importlib.util.spec_from_loader(name, self, is_package=package)
        spec.loader_state = source
        return spec

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        source = module.__spec__.loader_state
        exec(compile(source, f"{self.ref}:{module.__name__}", "exec"), module.__dict__)


def reference_package(ref: str):
    sys.meta_path.insert(0, _GitSource(ref))
    return importlib.import_module(REFERENCE)


def shown(hits) -> list[tuple]:
    """Everything a caller sees of the hits."""
    return [
        (
            h.chunk_id,
            h.document_id,
            h.collection_id,
            round(h.score, 6),
            h.vector_rank,
            h.keyword_rank,
            h.document_title,
            h.text,
            h.page,
            h.page_end,
            h.section,
            h.snippet,
        )
        for h in hits
    ]


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

    reference = reference_package(args.ref)
    queries = search.load_queries(args.queries)
    with schema_context(search.ORG_SLUG):
        organization = current_organization()
        collection = search.collection_ready(f"search-{args.size}", search.SIZES[args.size])
        if collection is None:
            raise SystemExit(f"build the {args.size} collection first: bench/search.py")

        def keyword_call(package, query):
            return lambda: package.keyword_search(
                query=query.text,
                collection_ids=[collection.id],
                limit=search.TOP_K,
                filters=package.SearchFilters(),
            )

        def hybrid_call(package, query):
            params = package.SearchParams(
                query=query.text,
                collections=[collection],
                mode=package.SearchMode.HYBRID,
                top_k=search.TOP_K,
            )
            return lambda: package.search(params, organization=organization)

        modes = {}
        by_text = {q.text: q.vector for q in queries}
        model_id = collection.embedding_model_id
        embedded = mock.patch(
            f"{REFERENCE}.vector.embed_query",
            lambda query, collections, *args, **kwargs: {model_id: by_text[query]},
        )
        # A reference since ADR 0104 starts the embedding beside its keyword half.
        started = (
            mock.patch(
                f"{REFERENCE}.vector.embed_query_start",
                lambda query, collections, *args, **kwargs: search.ReadyEmbeddings(
                    {model_id: by_text[query]}
                ),
            )
            if hasattr(reference.vector, "embed_query_start")
            else contextlib.nullcontext()
        )
        with search.precomputed_embeddings(collection, queries), embedded, started:
            for mode, make in (("keyword", keyword_call), ("hybrid", hybrid_call)):
                times = {"reference": [], "current": []}
                differ = 0
                for i, query in enumerate(queries):
                    pair = [
                        ("reference", make(reference, query)),
                        ("current", make(retrieval, query)),
                    ]
                    pair[0][1](), pair[1][1]()  # warm-up: buffers, code paths
                    found = {}
                    for side, call in pair if i % 2 == 0 else reversed(pair):
                        seconds, hits = common.timed(call)
                        times[side].append(seconds)
                        found[side] = shown(hits)
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

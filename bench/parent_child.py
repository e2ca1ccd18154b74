"""Flat vs parent-child chunks on long multi-section documents (ADR 0103).

Run from the repository root: ``python bench/parent_child.py`` (``--quick``: the first
100 test queries and their documents only).

SciFact has no long documents, so this bench builds them from it: the abstracts judged
for the evaluated test queries, plus a seeded sample of other abstracts (as many again
times ``--distractors``), shuffled and bound ``SECTIONS`` at a time into Markdown
documents ("# Collected abstracts n", then one "## <paper title>" section per abstract:
about 20 sections and 5,000 tokens each). Every setting (``--settings``) gets its own
collection in organization "benchparents", ingested through the pipeline's own steps
(extraction, ``chunk_plan_for_collection``, the local embedder, ``_write_chunks``).

The flat setting needs no collection of its own: flat chunks of 400/40 are the children
of "parent_child 400/40 in 1000" wherever a section fits in a parent (checked text for
text, document by document, and reported), so it is measured on the same hits with the
chunks given to the model alone. ``--scifact-chunks`` only chunks the whole SciFact
corpus both ways (no embedding) and counts the abstracts whose chunks are identical.

Per setting and search mode, for each test claim (``retrieval.search``, top_k = 6, the
assistants' default):

- section nDCG@10 / recall@10: hits (top_k = 10) mapped to the abstract (section) they
  were cut from, each abstract at its best hit, scored against the claim's qrels as
  bench/scifact.py scores documents;
- what the model reads, built by the chat turn's own rule (``chat.conversation.
  with_parent_sections``, a budget of ``BUDGET`` tokens: half of what an 8k-context model
  leaves after a 1,024-token answer): its tokens, the share of claims for which a judged
  abstract is in it whole ("whole abstract"), and the mean share of the judged abstracts'
  sentences in it ("sentence coverage").

Results: bench/results/parent-child-<UTC stamp>.json and parent-child-latest.json.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/common.py

import common

ORG_SLUG = "benchparents"
SECTIONS = 20
TOP_K = 6
BUDGET = (8192 - 1024) // 2
QUICK_QUERIES = 100
MODES = ("vector", "keyword", "hybrid")
# name -> collection settings
SETTINGS = {
    "parent_child 400/40 in 1000": {
        "chunking": "parent_child",
        "chunk_size": 400,
        "chunk_overlap": 40,
        "parent_size": 1000,
    },
    "parent_child 128/20 in 1000": {
        "chunking": "parent_child",
        "chunk_size": 128,
        "chunk_overlap": 20,
        "parent_size": 1000,
    },
}
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def long_documents(
    corpus: list, qrels: dict, distractors: float
) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """(title, markdown) documents, and paper title -> BEIR id for the sections used."""
    judged = {beir_id for relevance in qrels.values() for beir_id in relevance}
    chosen = [doc for doc in corpus if doc.beir_id in judged]
    others = [doc for doc in corpus if doc.beir_id not in judged]
    rng = random.Random(103)
    rng.shuffle(others)
    chosen += others[: int(len(chosen) * distractors)]
    rng.shuffle(chosen)
    documents, by_title = [], {}
    for start in range(0, len(chosen), SECTIONS):
        number = start // SECTIONS + 1
        title = f"Collected abstracts {number}"
        parts = [f"# {title}"]
        for doc in chosen[start : start + SECTIONS]:
            heading = " ".join(doc.title.split())
            by_title.setdefault(heading, doc.beir_id)
            parts.append(f"## {heading}\n\n{doc.text}")
        documents.append((title, "\n\n".join(parts)))
    return documents, by_title


def ready_collection(name: str, settings: dict, documents: list) -> tuple[Any, dict | None]:
    from knowledge_base import services
    from knowledge_base.models import DocumentStatus

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import scifact  # its batched ingestion: the pipeline's steps, one embedding call per batch

    collection = common.collection_named(name)
    if collection is not None:
        done = collection.documents.filter(status=DocumentStatus.COMPLETED).count()
        if done == len(documents):
            print(f"reusing {name!r}: {done} documents, {collection.chunk_count} chunks")
            return collection, None
        common.delete_collection(name)
    collection = services.collection_create(
        name=name, embedding_model=common.local_embedding_model(), **settings
    )
    started = time.perf_counter()
    created = []
    for title, text in documents:
        with common.no_celery_enqueue():
            outcome = services.document_create_text(collection=collection, title=title, text=text)
        created.append(outcome.document)
    written = 0
    for start in range(0, len(created), 8):
        written += scifact.ingest_batch(collection, created[start : start + 8])
    collection.refresh_from_db()
    seconds = time.perf_counter() - started
    print(f"ingested {name!r}: {written} chunks in {seconds:.0f} s", flush=True)
    return collection, {"chunks": written, "seconds": round(seconds, 1)}


def section_ids(collection: Any, by_title: dict[str, str]) -> dict[int, str]:
    """Chunk id -> BEIR id of the abstract (section) it was cut from."""
    from knowledge_base.models import DocumentChunk

    rows = DocumentChunk.objects.filter(collection=collection).values_list("id", "section_title")
    return {chunk_id: by_title.get(section.split(" > ")[-1], "") for chunk_id, section in rows}


def documents_equal_to_flat(collection: Any, settings: dict) -> tuple[int, int]:
    """(documents whose children are exactly the flat chunks of the same size, documents):
    where they are, the collection's hits are the flat setting's hits, and reading the
    chunks alone is what a flat collection gives the model."""
    from knowledge_base import extraction
    from knowledge_base.ingestion import chunk_for_collection
    from knowledge_base.models import DocumentChunk

    flat = SimpleNamespace(
        **{**settings, "chunking": "flat"}, embedding_model=collection.embedding_model
    )
    equal = total = 0
    for document in collection.documents.all():
        extracted = extraction.extract(document.text.encode(), document.content_type)
        expected = [c.text for c in chunk_for_collection(flat, extracted)]
        stored = list(
            DocumentChunk.objects.filter(document=document)
            .order_by("index")
            .values_list("content", flat=True)
        )
        total += 1
        equal += stored == expected
    return equal, total


def scifact_chunks_equal() -> dict[str, Any]:
    """The whole SciFact corpus chunked flat 400/40 and parent_child 400/40 in 1,000 (the
    defaults), without embedding: in how many documents are the children the flat chunks
    (there the searches, and bench/scifact.py's figures, are the same)."""
    from types import SimpleNamespace as Collection

    from knowledge_base import extraction
    from knowledge_base.embedding_windows import embedding_window
    from knowledge_base.ingestion import chunk_plan_for_collection

    model = common.local_embedding_model()
    window = embedding_window(model)
    sizes = {"chunk_size": 400, "chunk_overlap": 40, "parent_size": 1000, "embedding_model": model}
    flat, tree = Collection(chunking="flat", **sizes), Collection(chunking="parent_child", **sizes)
    counts = {"documents": 0, "identical": 0, "flat_chunks": 0, "children": 0, "parents": 0}
    for doc in common.scifact_corpus():
        extracted = extraction.extract(doc.document_text().encode(), "text/markdown")
        chunks = [c.text for c in chunk_plan_for_collection(flat, extracted, window).chunks]
        plan = chunk_plan_for_collection(tree, extracted, window)
        counts["documents"] += 1
        counts["identical"] += chunks == [c.text for c in plan.chunks]
        counts["flat_chunks"] += len(chunks)
        counts["children"] += len(plan.chunks)
        counts["parents"] += len(plan.parents)
    return counts


def context_of(hits: list, sections: bool = True) -> list:
    """The passages a chat turn gives the model for these hits (its own rule); without
    ``sections``, the chunks alone (what it reads of a flat collection)."""
    from chat import conversation

    sources = [
        conversation.RetrievedSource.of_hit(n, hit, sections=sections)
        for n, hit in enumerate(hits, start=1)
    ]
    return conversation.with_parent_sections(sources, BUDGET)


def evaluate(
    collection: Any,
    mode: str,
    queries: dict,
    qrels: dict,
    abstracts: dict[str, str],
    by_chunk: dict[int, str],
    organization: Any,
    sections: bool = True,
) -> dict[str, Any]:
    from assistants.providers.tokens import count_tokens
    from knowledge_base import retrieval
    from knowledge_base.evaluation import metrics

    ndcg, recall, tokens, whole, coverage, passages = [], [], [], [], [], []
    started = time.perf_counter()

    def search(query: str, top_k: int) -> list:
        params = retrieval.SearchParams(
            query=query, collections=[collection], mode=retrieval.SearchMode(mode), top_k=top_k
        )
        return retrieval.search(params, organization=organization)

    for query_id, relevance in qrels.items():
        ranked = metrics.ranked_documents(
            by_chunk.get(h.chunk_id, "") for h in search(queries[query_id], 10)
        )
        score = metrics.question_score([r for r in ranked if r], relevance)
        ndcg.append(score.ndcg_at_10)
        recall.append(score.recall_at_10)
        context = context_of(search(queries[query_id], TOP_K), sections)
        text = "\n\n".join(source.text for source in context)
        squashed = " ".join(text.split())
        tokens.append(count_tokens(text))
        passages.append(len(context))
        shares, complete = [], False
        for beir_id in relevance:
            abstract = " ".join(abstracts[beir_id].split())
            sentences = [s for s in _SENTENCE.split(abstract) if s]
            found = sum(1 for s in sentences if s in squashed)
            shares.append(found / len(sentences) if sentences else 0.0)
            complete = complete or abstract in squashed
        coverage.append(max(shares) if shares else 0.0)
        whole.append(1.0 if complete else 0.0)
    return {
        "mode": mode,
        "queries": len(qrels),
        "section_ndcg@10": metrics.mean(ndcg),
        "section_recall@10": metrics.mean(recall),
        "context_tokens_mean": metrics.mean(tokens),
        "context_passages_mean": metrics.mean(passages),
        "whole_abstract_share": metrics.mean(whole),
        "sentence_coverage": metrics.mean(coverage),
        "ms_per_query": round(1000 * (time.perf_counter() - started) / len(qrels), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"first {QUICK_QUERIES} queries")
    parser.add_argument(
        "--distractors",
        type=float,
        default=2.0,
        help="other abstracts per judged one bound into the documents (default 2)",
    )
    parser.add_argument(
        "--settings",
        nargs="+",
        choices=list(SETTINGS),
        default=list(SETTINGS),
        help="which collections to ingest and evaluate",
    )
    parser.add_argument(
        "--scifact-chunks",
        action="store_true",
        help="only compare the whole corpus's flat and parent_child chunks (no embedding)",
    )
    args = parser.parse_args()

    common.setup_django()
    from django_tenants.utils import schema_context

    if args.scifact_chunks:
        counts = scifact_chunks_equal()
        print(counts)
        common.write_results("parent-child-scifact-chunks", {"counts": counts})
        return 0

    from core.tenancy import current_organization

    common.benchmark_organization(ORG_SLUG, "Benchmark: parent-child chunks")
    corpus = common.scifact_corpus()
    abstracts = {doc.beir_id: doc.text for doc in corpus}
    queries = common.scifact_queries()
    qrels = common.scifact_qrels("test")
    if args.quick:
        qrels = dict(list(qrels.items())[:QUICK_QUERIES])
    documents, by_title = long_documents(corpus, qrels, args.distractors)
    suffix = f"-q{len(qrels)}-d{args.distractors:g}"
    rows, ingestion, checks = [], {}, {}
    with schema_context(ORG_SLUG):
        organization = current_organization()
        for label in args.settings:
            settings = SETTINGS[label]
            name = label.replace(" ", "-").replace("/", "-") + suffix
            collection, stats = ready_collection(name, settings, documents)
            ingestion[label] = stats
            by_chunk = section_ids(collection, by_title)
            policies = [(label, True)]
            if settings["chunk_size"] == 400:
                # Flat chunks of the same size are these children (sections are shorter
                # than a parent): the flat setting is the same hits, the chunks read alone.
                equal, total = documents_equal_to_flat(collection, settings)
                checks[label] = {"documents_whose_children_are_the_flat_chunks": [equal, total]}
                print(f"  {equal}/{total} documents: children = flat 400/40 chunks", flush=True)
                flat_label = "flat 400/40 (same chunks, read alone)"
                if equal < total:
                    flat_label = f"chunks read alone ({equal}/{total} documents = flat chunks)"
                policies.insert(0, (flat_label, False))
            for policy, sections in policies:
                for mode in MODES:
                    row = evaluate(
                        collection,
                        mode,
                        queries,
                        qrels,
                        abstracts,
                        by_chunk,
                        organization,
                        sections,
                    )
                    row["setting"] = policy
                    row["chunks"] = collection.chunk_count
                    rows.append(row)
                    print(
                        f"  {policy}, {mode}: section nDCG@10 {row['section_ndcg@10']:.3f}, "
                        f"context {row['context_tokens_mean']:.0f} tokens, whole abstract "
                        f"{row['whole_abstract_share']:.2f}, coverage {row['sentence_coverage']:.2f}",
                        flush=True,
                    )
    headers = [
        "setting",
        "mode",
        "chunks",
        "sect nDCG@10",
        "sect R@10",
        "ctx tokens",
        "passages",
        "whole abstract",
        "sent. coverage",
    ]
    common.print_table(
        headers,
        [
            [
                r["setting"],
                r["mode"],
                r["chunks"],
                r["section_ndcg@10"],
                r["section_recall@10"],
                round(r["context_tokens_mean"]),
                r["context_passages_mean"],
                r["whole_abstract_share"],
                r["sentence_coverage"],
            ]
            for r in rows
        ],
    )
    common.write_results(
        "parent-child",
        {
            "method": (
                f"SciFact test claims over long documents of {SECTIONS} abstracts each (judged "
                f"abstracts + {args.distractors:g}x others, seeded); retrieval.search top_k "
                f"{TOP_K} (nDCG at 10) per mode; context built by "
                f"chat.conversation.with_parent_sections within {BUDGET} tokens"
            ),
            "quick": args.quick,
            "documents": len(documents),
            "sections": len(by_title),
            "settings": SETTINGS,
            "ingestion": ingestion,
            "checks": checks,
            "results": rows,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

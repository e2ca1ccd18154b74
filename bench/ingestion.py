"""Ingestion throughput: chunks/s of the real pipeline against the bare embedder.

Run from the repository root: ``python bench/ingestion.py`` (~3-5 min on 2 cores;
``--quick`` ~1 min). Needs the dev database (started automatically when DATABASE_URL is
unset) and reads SciFact abstracts from ../shared/eval/scifact/corpus.jsonl.

Pipeline side: in organization "benchingest", a fresh collection on the local model
(local/all-minilm-l6-v2, default chunking 400/60), documents created with
``services.document_create_text`` and processed one by one with
``ingestion.document_process`` in this process (the body of the Celery task: claim,
extract, chunk, embed through the AI gateway in batches of KNOWLEDGE_EMBED_BATCH_SIZE with a
usage row per call, write the chunks and the HNSW index entries in one transaction).
The Celery enqueue is stubbed so a running dev worker cannot race us.

Bare side: ``get_local_embedder().embed(texts, batch_size=32)`` on exactly the chunk texts
the pipeline wrote (read back from DocumentChunk), nothing else.

Both sides alternate block by block (pipeline on block i, then bare on its chunks), so load
from other processes hits both alike. ratio = pipeline chunks/s / bare chunks/s over all
blocks (median of the per-block ratios also shown). Target: ratio >= 0.85, i.e. the
pipeline costs at most 15% over embedding alone. Document creation (the API request's
work) is timed apart and shown as "incl. create"; the target applies to processing.

Two corpus shapes: "abstract" (one SciFact abstract per document, ~1 chunk each: the
pipeline's fixed per-document cost is largest here) and "report" (10 abstracts joined,
~12 chunks a document: embedding batches of up to 32 chunks).

``--profile`` runs pyinstrument over the pipeline side and prints where the time goes
(``python3 -m uv pip install --python .venv/bin/python pyinstrument``); the profiler slows
the pipeline side, so such runs write ingestion-profiled-*.json, not ingestion-latest.json.

Results: bench/results/ingestion-<UTC stamp>.json and ingestion-latest.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/common.py

import common

ORG_SLUG = "benchingest"
MIN_RATIO = 0.85
SHAPES = {"abstract": 1, "report": 10}  # abstracts joined per document
DEFAULT_CHUNKS = 600  # per shape; bare embedding runs at ~15-25 chunks/s here
QUICK_CHUNKS = 150
CHUNKS_PER_ABSTRACT = 1.2  # measured: some abstracts exceed 400 tokens


@dataclass
class BlockTiming:
    documents: int
    chunks: int
    create_s: float
    pipeline_s: float
    bare_s: float

    @property
    def ratio(self) -> float:
        return self.bare_s / self.pipeline_s


@dataclass
class ShapeResult:
    shape: str
    abstracts_per_document: int
    blocks: list[BlockTiming] = field(default_factory=list)

    def total(self, attribute: str) -> float:
        return sum(getattr(block, attribute) for block in self.blocks)

    def summary(self) -> dict[str, Any]:
        chunks = self.total("chunks")
        pipeline_s, bare_s, create_s = (self.total(a) for a in ("pipeline_s", "bare_s", "create_s"))
        ratio = bare_s / pipeline_s
        return {
            "shape": self.shape,
            "abstracts_per_document": self.abstracts_per_document,
            "documents": int(self.total("documents")),
            "chunks": int(chunks),
            "chunks_per_document": chunks / self.total("documents"),
            "pipeline_chunks_per_s": chunks / pipeline_s,
            "bare_chunks_per_s": chunks / bare_s,
            "ratio": ratio,
            "median_block_ratio": statistics.median(b.ratio for b in self.blocks),
            "incl_create_chunks_per_s": chunks / (pipeline_s + create_s),
            "incl_create_ratio": bare_s / (pipeline_s + create_s),
            "pipeline_ms_per_document": 1000 * pipeline_s / self.total("documents"),
            "create_ms_per_document": 1000 * create_s / self.total("documents"),
            "pass": ratio >= MIN_RATIO,
            "blocks": [vars(b) | {"ratio": b.ratio} for b in self.blocks],
        }


def documents_for(shape_size: int, chunks_wanted: int, corpus: list) -> list[tuple[str, str]]:
    """(title, text) pairs: ``shape_size`` abstracts per document, about ``chunks_wanted`` chunks.

    At the default chunk size (400/60) an abstract makes ~1.2 chunks, alone or joined.
    """
    count = max(1, round(chunks_wanted / chunks_per_document(shape_size)))
    documents = []
    for i in range(count):
        parts = corpus[(i * shape_size) % len(corpus) :][:shape_size]
        title = parts[0].title[:300]
        documents.append((title, "\n\n".join(p.document_text() for p in parts)))
    return documents


def chunks_per_document(shape_size: int) -> float:
    return CHUNKS_PER_ABSTRACT * shape_size


def fresh_collection(shape: str) -> Any:
    """A new collection per run: the schema's HNSW index only holds this run's vectors."""
    from knowledge_base import services

    name = f"ingest-{shape}"
    common.delete_collection(name)
    return services.collection_create(name=name, embedding_model=common.local_embedding_model())


def create_documents(collection: Any, documents: list[tuple[str, str]]) -> tuple[float, list]:
    from knowledge_base import services

    started = time.perf_counter()
    with common.no_celery_enqueue():
        created = [
            services.document_create_text(collection=collection, title=title, text=text).document
            for title, text in documents
        ]
    return time.perf_counter() - started, created


def process_documents(created: list, organization: Any) -> float:
    from knowledge_base.ingestion import document_process

    started = time.perf_counter()
    for document in created:
        result = document_process(
            document_id=document.id, version=document.version, organization=organization
        )
        if result.status != "completed":
            raise RuntimeError(f"document {document.id} ended {result.status}")
    return time.perf_counter() - started


def chunk_texts(created: list) -> list[str]:
    """The chunk texts the pipeline wrote, in document then chunk order."""
    from knowledge_base.models import DocumentChunk

    order = {document.id: i for i, document in enumerate(created)}
    rows = DocumentChunk.objects.filter(document_id__in=order).values_list(
        "document_id", "index", "content"
    )
    return [content for _, _, content in sorted(rows, key=lambda r: (order[r[0]], r[1]))]


def bare_embed(texts: list[str]) -> float:
    from assistants.providers.local_embedder import get_local_embedder

    embedder = get_local_embedder()
    started = time.perf_counter()
    embedder.embed(texts, batch_size=32)
    return time.perf_counter() - started


def warm_up(collection: Any, organization: Any, corpus: list) -> None:
    """Load the model and open the code paths once, untimed (and delete the document)."""
    from knowledge_base import services

    _, created = create_documents(collection, [("warm-up", corpus[-1].document_text())])
    process_documents(created, organization)
    bare_embed(chunk_texts(created))
    services.document_delete(document=created[0])


def run_shape(
    shape: str, chunks_wanted: int, block_size: int, organization: Any, profiler
) -> ShapeResult:
    corpus = common.scifact_corpus()
    documents = documents_for(SHAPES[shape], chunks_wanted, corpus)
    collection = fresh_collection(shape)
    warm_up(collection, organization, corpus)
    result = ShapeResult(shape, SHAPES[shape])
    for start in range(0, len(documents), block_size):
        block = documents[start : start + block_size]
        create_s, created = create_documents(collection, block)
        if profiler is not None:
            profiler.start()
        pipeline_s = process_documents(created, organization)
        if profiler is not None:
            profiler.stop()
        texts = chunk_texts(created)
        bare_s = bare_embed(texts)
        result.blocks.append(BlockTiming(len(block), len(texts), create_s, pipeline_s, bare_s))
        done = sum(b.chunks for b in result.blocks)
        print(f"  {shape}: {done} chunks, block ratio {result.blocks[-1].ratio:.3f}", flush=True)
    return result


def make_profiler(enabled: bool):
    if not enabled:
        return None
    try:
        from pyinstrument import Profiler
    except ImportError:
        sys.exit(
            "--profile needs pyinstrument: "
            "python3 -m uv pip install --python .venv/bin/python pyinstrument"
        )
    return Profiler(interval=0.002)


def print_summary(summaries: list[dict]) -> None:
    headers = [
        "shape",
        "docs",
        "chunks",
        "pipeline ch/s",
        "bare ch/s",
        "ratio",
        "median blk",
        "incl. create ch/s",
        "ratio incl. create",
        "result",
    ]
    rows = [
        [
            s["shape"],
            s["documents"],
            s["chunks"],
            s["pipeline_chunks_per_s"],
            s["bare_chunks_per_s"],
            s["ratio"],
            s["median_block_ratio"],
            s["incl_create_chunks_per_s"],
            s["incl_create_ratio"],
            common.verdict(s["pass"]),
        ]
        for s in summaries
    ]
    print()
    common.print_table(headers, rows)
    print(f"\ntarget: pipeline/bare >= {MIN_RATIO} (overhead under {1 - MIN_RATIO:.0%})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_CHUNKS} chunks per shape")
    parser.add_argument("--chunks", type=int, help=f"chunks per shape (default {DEFAULT_CHUNKS})")
    parser.add_argument("--block", type=int, default=50, help="chunks per alternation block")
    parser.add_argument("--shapes", nargs="+", choices=sorted(SHAPES), default=list(SHAPES))
    parser.add_argument("--profile", action="store_true", help="pyinstrument the pipeline side")
    args = parser.parse_args()
    chunks_wanted = args.chunks or (QUICK_CHUNKS if args.quick else DEFAULT_CHUNKS)

    common.setup_django()
    from django.conf import settings
    from django_tenants.utils import schema_context

    from core.tenancy import current_organization

    common.benchmark_organization(ORG_SLUG, "Benchmark: ingestion")
    profiler = make_profiler(args.profile)
    started = time.perf_counter()
    summaries = []
    with schema_context(ORG_SLUG):
        organization = current_organization()
        for shape in args.shapes:
            block_docs = max(1, round(args.block / chunks_per_document(SHAPES[shape])))
            result = run_shape(shape, chunks_wanted, block_docs, organization, profiler)
            summaries.append(result.summary())
    print_summary(summaries)
    if profiler is not None:
        print(profiler.output_text(unicode=False, color=False, show_all=False))
    # A profiled run is slower on the pipeline side only: keep it out of ingestion-latest.
    common.write_results(
        "ingestion-profiled" if profiler is not None else "ingestion",
        {
            "method": (
                "pipeline = ingestion.document_process per document (in-process, Celery "
                "enqueue stubbed); bare = LocalEmbedder.embed(chunk texts read back from "
                "DocumentChunk, batch_size=32); alternated per block; ratio = bare time / "
                "pipeline time over all blocks"
            ),
            "embed_batch_size": settings.KNOWLEDGE_EMBED_BATCH_SIZE,
            "min_ratio": MIN_RATIO,
            "elapsed_s": round(time.perf_counter() - started, 1),
            "shapes": summaries,
        },
    )
    return 0 if all(s["pass"] for s in summaries) else 1


if __name__ == "__main__":
    sys.exit(main())

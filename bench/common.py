"""Shared helpers of the knowledge-base benchmarks (ingestion, search, scifact).

Django setup against the dev database, one benchmark organization per script, timing,
percentiles, SciFact loaders, table printing and the results files. Nothing here
downloads anything: the SciFact files are read from ../shared/eval/scifact/ and the
embedding model comes from an installed wheel.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"
# ../shared/eval/scifact beside the checkout; SCIFACT_DIR overrides it (a worktree lives deeper).
SCIFACT_DIR = Path(os.environ.get("SCIFACT_DIR") or ROOT.parent / "shared" / "eval" / "scifact")
LOCAL_EMBEDDING_MODEL = ("local", "all-minilm-l6-v2")
# Application code whose uncommitted edits the results should mention (others edit it too).
CODE_DIRS = ("knowledge_base", "assistants", "config", "billing", "files")
_CODE_AT_START: dict[str, Any] = {}

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script, not installed: make the app importable


# -- Django and the benchmark organization -------------------------------------------


def setup_django() -> None:
    """Django on the dev settings (embedded PostgreSQL when DATABASE_URL is unset).

    DEBUG defaults to off here although the dev settings turn it on: with DEBUG, Django
    wraps every cursor to record each statement with its parameters (a 384-float vector
    is ~7 kB of text), work production never does and that would be charged to the
    service side of every comparison. ``DEBUG=true python bench/...`` still turns it on.
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    os.environ.setdefault("DEBUG", "false")
    from config import localservices

    localservices.ensure_services()  # the embedded servers, unless URLs are given
    import django

    django.setup()
    # The code under test is what was on disk when the run started (imports are done).
    _CODE_AT_START.update(git_commit=_git(["rev-parse", "--short", "HEAD"]))
    _CODE_AT_START.update(
        uncommitted=_git(["diff", "--name-only", "HEAD", "--", *CODE_DIRS]).split()
    )


def uvicorn_command(python: str, port: int, *, access_log: bool = True) -> list[str]:
    """One uvicorn worker of the platform on 127.0.0.1:port (what every bench starts)."""
    command = [
        python,
        "-m",
        "uvicorn",
        "config.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "warning",
    ]
    return command if access_log else [*command, "--no-access-log"]


def free_port() -> int:
    """A TCP port nobody listens on now (for the servers a benchmark starts)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def benchmark_organization(slug: str, name: str) -> Any:
    """The benchmark's own organization (created once, reused afterwards).

    Works from a fresh database: the shared schema is migrated first (a no-op when it is
    up to date), an existing organization's schema too, and the AI catalog is synced so
    the local embedding model exists.
    """
    from django.core.management import call_command

    from assistants.catalog.services import ai_models_sync
    from users.models import Organization
    from users.services import organization_create

    call_command("migrate_schemas", "--shared", interactive=False, verbosity=0)
    ai_models_sync()
    organization = Organization.objects.filter(schema_name=slug).first()
    if organization is None:
        print(f"creating organization {slug!r} (schema + migrations, ~10-30 s)", flush=True)
        organization = organization_create(name=name, slug=slug)
    else:
        call_command("migrate_schemas", schema_name=slug, interactive=False, verbosity=0)
    if organization.plan != "enterprise":
        # Benchmarks measure the platform, not the free plan's quotas (500 documents...).
        Organization.objects.filter(pk=organization.pk).update(plan="enterprise")
        organization.plan = "enterprise"
    return organization


def local_embedding_model() -> Any:
    from assistants.catalog.models import AIModel

    provider, model_id = LOCAL_EMBEDDING_MODEL
    return AIModel.objects.get(provider=provider, model_id=model_id)


@contextlib.contextmanager
def no_celery_enqueue() -> Iterator[None]:
    """Create documents without queueing the Celery task.

    The benchmarks run the task's body (``ingestion.document_process``) in-process; a dev
    worker that is running (``make dev``) would otherwise race us for every document.
    """
    with mock.patch("knowledge_base.services.document_enqueue", lambda document: None):
        yield


def collection_named(name: str) -> Any:
    """The benchmark collection called ``name`` in the current schema, or None."""
    from knowledge_base.models import Collection

    return Collection.objects.filter(name=name).select_related("embedding_model").first()


def delete_collection(name: str) -> None:
    """Drop a benchmark collection with its documents and chunks (cascade)."""
    from knowledge_base.models import Collection

    for collection in Collection.objects.filter(name=name):
        collection.delete()


# -- timing and statistics --------------------------------------------------------------


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default), q in 0..100."""
    return float(np.percentile(np.asarray(values, dtype=float), q))


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/mean in milliseconds."""
    ms = [s * 1000 for s in seconds]
    return {
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "mean_ms": float(np.mean(ms)),
        "n": len(ms),
    }


def verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


# -- SciFact --------------------------------------------------------------------------


@dataclass(frozen=True)
class ScifactDoc:
    beir_id: str
    title: str
    text: str

    def document_text(self) -> str:
        """What the benchmarks ingest: title, blank line, abstract (BEIR embeds title + text)."""
        return f"{self.title}\n\n{self.text}"


def _read_jsonl(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def scifact_corpus(limit: int | None = None) -> list[ScifactDoc]:
    """The corpus in file order (stable, so a --docs N subset is the same every run)."""
    docs = []
    for row in _read_jsonl(SCIFACT_DIR / "corpus.jsonl"):
        docs.append(ScifactDoc(row["_id"], row["title"].strip(), row["text"].strip()))
        if limit is not None and len(docs) >= limit:
            break
    return docs


def scifact_queries() -> dict[str, str]:
    return {row["_id"]: row["text"] for row in _read_jsonl(SCIFACT_DIR / "queries.jsonl")}


def scifact_qrels(split: str) -> dict[str, dict[str, int]]:
    """query id -> {corpus id: graded relevance} of ``split`` (test or train)."""
    qrels: dict[str, dict[str, int]] = {}
    lines = (SCIFACT_DIR / "qrels" / f"{split}.tsv").read_text().splitlines()
    for line in lines[1:]:  # header: query-id, corpus-id, score
        if line.strip():
            query_id, corpus_id, score = line.split("\t")
            qrels.setdefault(query_id, {})[corpus_id] = int(score)
    return qrels


# -- output ---------------------------------------------------------------------------


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain fixed-width table: text left-aligned, numbers right-aligned."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    numeric = [all(isinstance(row[i], int | float) for row in rows) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ).rstrip()

    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print(line(row))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def machine_info() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        **{f"{key}_at_start": value for key, value in _CODE_AT_START.items()},
    }


def _git(arguments: list[str]) -> str:
    # Read-only git commands: which code produced the figures.
    try:
        return subprocess.run(
            ["git", *arguments], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def write_results(name: str, report: dict[str, Any]) -> Path:
    """bench/results/<name>-<UTC stamp>.json and <name>-latest.json; returns the stamped one."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report = {"benchmark": name, "timestamp_utc": stamp, "machine": machine_info(), **report}
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2, default=_json_default) + "\n"
    stamped = RESULTS_DIR / f"{name}-{stamp}.json"
    for path in (stamped, RESULTS_DIR / f"{name}-latest.json"):
        path.write_text(text)
    print(f"wrote {stamped.relative_to(ROOT)} and {name}-latest.json")
    return stamped


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)

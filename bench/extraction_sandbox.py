"""What the extraction sandbox costs per document: the fork server against a fresh
interpreter per document (ADR 0092).

    .venv/bin/python bench/extraction_sandbox.py [--rounds N]

For each kind of document (a page of text, Markdown, HTML, a PDF and a DOCX), the same
process extracts it `--rounds` times through each path, alternating the two so that the
machine's load falls on both alike, and reports the median time per document, the time
in-process (`extract` with no boundary: the parse's own cost, the floor) and the ratio
fresh / fork server. No database is needed.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import print_table, write_results  # noqa: E402
from knowledge_base.extraction import extract, sandbox  # noqa: E402
from knowledge_base.extraction.limits import DEFAULT_LIMITS  # noqa: E402

PARAGRAPH = "The refund policy allows returns within thirty days of purchase. " * 6


def documents() -> dict[str, tuple[str, bytes]]:
    import docx

    from knowledge_base.tests.test_extraction import make_pdf

    word = docx.Document()
    for n in range(20):
        word.add_heading(f"Section {n}", level=2)
        word.add_paragraph(PARAGRAPH)
    word_bytes = io.BytesIO()
    word.save(word_bytes)

    sections = "\n\n".join(f"## Section {n}\n\n{PARAGRAPH}" for n in range(20))
    html = "".join(f"<h2>Section {n}</h2><p>{PARAGRAPH}</p>" for n in range(20))
    return {
        "text": ("text/plain", "\n\n".join([PARAGRAPH] * 20).encode()),
        "markdown": ("text/markdown", f"# Guide\n\n{sections}".encode()),
        "html": ("text/html", f"<html><body><h1>Guide</h1>{html}</body></html>".encode()),
        "pdf (3 pages)": ("application/pdf", make_pdf([PARAGRAPH * 4] * 3)),
        "docx (20 sections)": (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            word_bytes.getvalue(),
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    rounds = parser.parse_args().rounds
    if not sandbox.FORK_SERVER_SUPPORTED:
        print("the fork server needs Linux")
        return 2
    started = time.monotonic()
    sandbox.extract_isolated(b"warm up", "text/plain")  # the server's start, once
    server_start = time.monotonic() - started

    rows, report = [], {}
    for name, (content_type, data) in documents().items():
        timings: dict[str, list[float]] = {"fork": [], "spawn": [], "in_process": []}
        for _ in range(rounds):
            for path, run in (
                ("fork", sandbox._extract_forked),
                ("spawn", sandbox._extract_spawned),
            ):
                began = time.perf_counter()
                result = run(data, content_type, DEFAULT_LIMITS, None)
                timings[path].append(time.perf_counter() - began)
            began = time.perf_counter()
            assert extract(data, content_type, DEFAULT_LIMITS) == result
            timings["in_process"].append(time.perf_counter() - began)
        medians = {path: statistics.median(values) * 1000 for path, values in timings.items()}
        ratio = medians["spawn"] / medians["fork"]
        report[name] = {**{f"{p}_median_ms": round(v, 2) for p, v in medians.items()},
                        "spawn_over_fork": round(ratio, 2)}  # fmt: skip
        rows.append([name, f"{medians['in_process']:.1f}", f"{medians['fork']:.1f}",
                     f"{medians['spawn']:.1f}", f"{ratio:.1f}x"])  # fmt: skip
    print_table(["document", "in-process ms", "fork server ms", "fresh interpreter ms",
                 "fresh / fork"], rows)  # fmt: skip
    print(f"fork server start (once per worker process): {server_start * 1000:.0f} ms")
    write_results(
        "extraction_sandbox",
        {"rounds": rounds, "server_start_ms": round(server_start * 1000), "documents": report},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The extraction fork server (knowledge_base/extraction/sandbox.py, ADR 0092): one clean
interpreter per worker process forks a limited child for each document."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest

from knowledge_base.extraction import (
    MARKDOWN,
    PLAIN,
    DocumentError,
    ExtractionLimits,
    extract,
    sandbox,
)
from knowledge_base.extraction.limits import LimitExceeded
from knowledge_base.extraction.sandbox import ExtractionCancelled, extract_isolated
from tests.security import bombs

pytestmark = pytest.mark.skipif(
    not sandbox.FORK_SERVER_SUPPORTED, reason="the fork server needs Linux"
)

GUIDE = b"# Guide\n\nFirst part.\n\n## Install\n\nSecond part."


def server() -> psutil.Process:
    [found] = [child for child in psutil.Process().children() if "--fork-server" in child.cmdline()]
    return found


def test_one_server_serves_every_document_of_this_process_each_in_a_child_of_its_own():
    extract_isolated(GUIDE, MARKDOWN)
    first = server()
    # nothing of the worker's environment (its database URL, its keys)
    assert first.environ() == sandbox._child_environment()

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda n: extract_isolated(GUIDE * n, MARKDOWN), range(1, 9)))

    assert results == [extract(GUIDE * n, MARKDOWN) for n in range(1, 9)]
    assert server().pid == first.pid
    assert first.children() == []  # every child reaped


def test_a_child_stopped_by_its_limit_leaves_the_server_serving():
    extract_isolated(GUIDE, MARKDOWN)
    before = server().pid
    _, data = bombs.docx_tiny_paragraphs()
    with pytest.raises(LimitExceeded) as refused:
        extract_isolated(
            data,
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            limits=ExtractionLimits(
                cpu_seconds=1, max_paragraphs=10**8, max_compression_ratio=10**6
            ),
        )
    assert "seconds of CPU time (limit 1 s)" in refused.value.message
    assert extract_isolated(GUIDE, MARKDOWN) == extract(GUIDE, MARKDOWN)
    assert server().pid == before


def test_a_cancelled_parse_is_killed_at_once():
    _, data = bombs.docx_tiny_paragraphs()
    asked = time.monotonic()
    with pytest.raises(ExtractionCancelled):
        extract_isolated(
            data,
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            limits=ExtractionLimits(max_paragraphs=10**8, max_compression_ratio=10**6),
            keep_going=lambda: time.monotonic() - asked < 1,
        )
    assert psutil.wait_procs(server().children(), timeout=5)[1] == []  # none left running


def test_a_dead_server_is_replaced_on_the_next_document():
    extract_isolated(GUIDE, PLAIN)
    dead = server()
    os.kill(dead.pid, signal.SIGKILL)
    dead.wait(timeout=5)

    assert extract_isolated(GUIDE, PLAIN) == extract(GUIDE, PLAIN)
    assert server().pid != dead.pid


def test_reasons_come_through_as_from_a_fresh_interpreter():
    data = "\n\n".join(f"Block {n}." for n in range(6)).encode()
    limits = ExtractionLimits(max_paragraphs=5)
    reasons = []
    for extract_with in (sandbox._extract_forked, sandbox._extract_spawned):
        with pytest.raises(DocumentError) as refused:
            extract_with(data, PLAIN, limits, None)
        reasons.append((type(refused.value), refused.value.message))
    assert (
        reasons[0]
        == reasons[1]
        == (
            LimitExceeded,
            "The document has more than 5 paragraphs (limit 5).",
        )
    )

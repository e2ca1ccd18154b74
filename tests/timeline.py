"""Where a `make test` run's time goes: each worker's tests on a clock, and its CPU.

A pytest plugin, off unless asked for. With ``-p tests.timeline`` and
``TEST_TIMELINE_DIR`` set, every pytest process (each xdist worker, or the one process
of a serial run) writes ``<dir>/<worker>.json``: when it started, when its collection
ended, each test's start and end (set-up to tear-down, wall clock), and at the end the
CPU seconds of the process and of the children it waited for (the servers its tests
started). ``python -m tests.timeline <dir>`` then prints per worker how long it was busy,
its groups and slowest tests, and the run's critical path (docs/testing.md, "Where the
time goes")::

    TEST_TIMELINE_DIR=/tmp/timeline PYTEST_ADDOPTS="-p tests.timeline" make test
    python -m tests.timeline /tmp/timeline
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

_DIR = os.environ.get("TEST_TIMELINE_DIR")
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
_record: dict = {"worker": _WORKER, "pid": os.getpid(), "started": time.time(), "tests": []}


def _cpu() -> dict:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "self": round(own.ru_utime + own.ru_stime, 2),
        "children": round(children.ru_utime + children.ru_stime, 2),
    }


def _controller(config) -> bool:
    """The xdist controller runs no tests (its workers write their own files)."""
    return bool(getattr(config.option, "numprocesses", None)) and not hasattr(config, "workerinput")


def pytest_collection_finish(session):
    _record["collected"] = time.time()
    _record["count"] = len(session.items)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    started, cpu = time.time(), _cpu()
    yield
    after = _cpu()
    root = sys.modules.get("conftest")
    group = getattr(root, "_xdist_group", lambda nodeid: None)(item.nodeid)
    test = [
        item.nodeid,
        round(started, 3),
        round(time.time(), 3),
        round(after["self"] - cpu["self"] + after["children"] - cpu["children"], 2),
        group or item.nodeid.split("::", 1)[0],
    ]
    _record["tests"].append(test)
    if _DIR and not _controller(item.config):
        # Test by test as well: a run stopped before its end still leaves its timeline.
        path = Path(_DIR)
        path.mkdir(parents=True, exist_ok=True)
        with open(path / f"{_WORKER}.jsonl", "a") as lines:
            lines.write(
                json.dumps({**{k: _record.get(k) for k in ("started", "collected")}, "test": test})
                + "\n"
            )


def pytest_sessionfinish(session):
    if not _DIR or _controller(session.config):
        return
    _record["finished"] = time.time()
    _record["cpu"] = _cpu()
    path = Path(_DIR)
    path.mkdir(parents=True, exist_ok=True)
    (path / f"{_WORKER}.json").write_text(json.dumps(_record))


# -- the report -----------------------------------------------------------------------


def report(directory: Path, top: int = 25) -> str:
    records = [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))]
    finished = {r["worker"] for r in records}
    for path in sorted(directory.glob("*.jsonl")):  # a worker stopped before its end
        if path.stem in finished:
            continue
        lines = [json.loads(line) for line in path.read_text().splitlines() if line]
        tests = [line["test"] for line in lines]
        records.append(
            {
                "worker": path.stem + " (stopped)",
                "started": lines[0]["started"],
                "collected": lines[0]["collected"],
                "finished": tests[-1][2],
                "tests": tests,
                "cpu": {"self": 0.0, "children": 0.0},
            }
        )
    if not records:
        return f"no timeline in {directory}"
    origin = min(r["started"] for r in records)
    end = max(r["finished"] for r in records)
    lines = [f"run: {end - origin:.1f} s from the first worker's start to the last's end"]
    total_cpu = 0.0
    for r in records:
        tests = r["tests"]
        busy = sum(t[2] - t[1] for t in tests)
        cpu = r["cpu"]["self"] + r["cpu"]["children"]
        total_cpu += cpu
        lines.append(
            f"{r['worker']}: started {r['started'] - origin:6.1f}, collected "
            f"{r['collected'] - origin:6.1f}, first test {tests[0][1] - origin if tests else 0:6.1f}, "
            f"last test ended {tests[-1][2] - origin if tests else 0:6.1f}, finished "
            f"{r['finished'] - origin:6.1f}; {len(tests)} tests busy {busy:6.1f} s; CPU "
            f"{r['cpu']['self']:.1f} s own + {r['cpu']['children']:.1f} s children"
        )
        spans: dict[str, list[float]] = {}
        for _, start, stop, _, unit in tests:
            span = spans.setdefault(unit, [start, stop, 0.0])
            span[1] = max(span[1], stop)
            span[2] += stop - start
        for unit, (start, stop, spent) in sorted(spans.items(), key=lambda kv: -kv[1][2])[:6]:
            lines.append(
                f"    {unit}: {spent:6.1f} s ({start - origin:6.1f} to {stop - origin:6.1f})"
            )
    lines.append(f"CPU of the pytest processes and their children: {total_cpu:.1f} s")
    per_unit: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    every = [(t, r["worker"]) for r in records for t in r["tests"]]
    for (_, start, stop, cpu, name), _ in every:
        unit = per_unit[name]
        unit[0] += stop - start
        unit[1] += cpu
        unit[2] += 1
    lines.append("units by wall time (s wall, s CPU in pytest's process and children, tests):")
    for name, (wall, cpu, count) in sorted(per_unit.items(), key=lambda kv: -kv[1][0])[:top]:
        lines.append(f"  {wall:7.1f} {cpu:7.1f} {count:5d}  {name}")
    lines.append("slowest tests (s wall, s CPU, worker):")
    for (nodeid, start, stop, cpu, _), worker in sorted(every, key=lambda e: e[0][1] - e[0][2])[
        :top
    ]:
        lines.append(f"  {stop - start:7.1f} {cpu:7.1f} {worker}  {nodeid}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    print(report(Path(sys.argv[1]), top=int(sys.argv[2]) if len(sys.argv) > 2 else 25))

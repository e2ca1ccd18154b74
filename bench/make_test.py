"""How long `make test` takes, and what it costs: wall time, CPU seconds, the machine's load.

Runs a command (``make test`` unless given one) with this checkout's embedded servers,
and writes ``bench/results/make-test-<UTC time>.json`` (and ``make-test-latest.json``):

- wall seconds, and the phases' ends read from the output (pytest's first line, its
  summary);
- CPU seconds (user + sys) of the command and every process it waited for (pytest's
  workers, the servers the tests start), plus those of this checkout's PostgreSQL
  (its backends, as they exit) and Redis, which the command did not start;
- the load average and the machine's busy share every 5 s (other sessions share the
  machine: compare runs by CPU seconds and the critical path, not wall time alone);
- the per-worker timeline (``tests/timeline.py``: each worker's busy time, groups,
  slowest tests), kept next to the results file.

    python bench/make_test.py --note "before"          # make test, 3 workers
    python bench/make_test.py --note x -- make test PYTEST_WORKERS=4
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float | None:
    """utime + stime + cutime + cstime of a process, in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return sum(int(value) for value in fields[11:15]) / TICK


def _server_pids() -> dict[str, int]:
    sys.path.insert(0, str(ROOT))
    from config import localservices

    localservices.ensure_services()
    pids = {}
    pg = localservices.POSTGRES.pgdata / "postmaster.pid"
    if pg.exists():
        pids["postgres"] = int(pg.read_text().split()[0])
    if localservices.REDIS.pidfile.exists():
        pids["redis"] = int(localservices.REDIS.pidfile.read_text().strip())
    return pids


def _busy_share() -> tuple[int, int]:
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class Sampler(threading.Thread):
    def __init__(self, every: float = 5.0):
        super().__init__(daemon=True)
        self.every = every
        self.samples: list[dict] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        busy, total = _busy_share()
        while not self.stopped.wait(self.every):
            now_busy, now_total = _busy_share()
            self.samples.append(
                {
                    "t": round(time.monotonic() - started, 1),
                    "load1": os.getloadavg()[0],
                    "busy": round((now_busy - busy) / max(1, now_total - total), 3),
                }
            )
            busy, total = now_busy, now_total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--note", default="")
    parser.add_argument("--workers", default="3", help="PYTEST_WORKERS (make test's default)")
    parser.add_argument("command", nargs="*", default=["make", "test"])
    args = parser.parse_args()

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    timeline = Path(tempfile.mkdtemp(prefix="timeline-"))
    log_path = Path(tempfile.gettempdir()) / f"make-test-{stamp}.log"
    env = {
        **os.environ,
        "PYTEST_WORKERS": args.workers,
        "TEST_TIMELINE_DIR": str(timeline),
        "PYTEST_ADDOPTS": (os.environ.get("PYTEST_ADDOPTS", "") + " -p tests.timeline").strip(),
    }
    servers = _server_pids()
    before = {name: _proc_cpu(pid) for name, pid in servers.items()}
    sampler = Sampler()
    sampler.start()
    started = time.monotonic()
    marks: dict[str, float] = {}
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            args.command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        for raw in process.stdout:
            line = raw.decode(errors="replace")
            log.write(line)
            log.flush()
            sys.stdout.write(line)
            now = round(time.monotonic() - started, 1)
            if "pytest" in line and "-n" in line and "pytest" not in marks:
                marks["pytest"] = now
            if re.match(r"^(created|\d+ workers)", line) and "workers" not in marks:
                marks["workers"] = now
            if re.search(r"=+ .*(passed|failed|error).* in [\d.]+s", line):
                marks["summary"] = now
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    sampler.stopped.set()
    sampler.join()
    after = {name: _proc_cpu(pid) for name, pid in servers.items()}
    text = log_path.read_text(errors="replace")
    summary = re.findall(r"=+ (.*(?:passed|failed|error).* in [\d.]+s.*) =+", text)
    loads = [s["load1"] for s in sampler.samples]
    result = {
        "benchmark": "make-test",
        "note": args.note,
        "started_utc": stamp,
        "command": args.command,
        "workers": args.workers,
        "exit_status": os.waitstatus_to_exitcode(status),
        "wall_s": round(wall, 1),
        "phase_marks_s": marks,
        "pytest_summary": summary[-1] if summary else None,
        "cpu_s": {
            "command_and_children": round(usage.ru_utime + usage.ru_stime, 1),
            **{
                name: round(after[name] - before[name], 1)
                for name in servers
                if after.get(name) is not None and before.get(name) is not None
            },
        },
        "load1": {
            "min": min(loads, default=None),
            "mean": round(sum(loads) / len(loads), 2) if loads else None,
            "max": max(loads, default=None),
        },
        "machine_busy_mean": round(
            sum(s["busy"] for s in sampler.samples) / max(1, len(sampler.samples)), 3
        ),
        "samples": sampler.samples,
        "git": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
        "dirty": bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=ROOT,
                capture_output=True,
                text=True,
            ).stdout.strip()
        ),
        "log": str(log_path),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    base = RESULTS / f"make-test-{stamp}"
    if any(timeline.glob("*.json")):
        from tests.timeline import report

        (base.with_suffix(".timeline.txt")).write_text(report(timeline, top=60) + "\n")
        shutil.make_archive(str(base) + ".timeline", "gztar", timeline)
    durations = re.search(r"=+ slowest \d+ durations =+\n(.*?)\n\n", text, re.DOTALL)
    if durations:
        result["durations"] = durations.group(1).splitlines()
    for path in (base.with_suffix(".json"), RESULTS / "make-test-latest.json"):
        path.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"\nmake-test: {result['wall_s']} s wall, exit {result['exit_status']}, "
        f"CPU {result['cpu_s']}, load {result['load1']}; {base.with_suffix('.json')}"
    )
    return result["exit_status"]


if __name__ == "__main__":
    sys.exit(main())

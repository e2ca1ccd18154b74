"""Soak: many concurrent chat clients on one worker, then an exactly-once audit in the database.

Run from the repository root: ``python bench/soak.py`` (~4 min: two runs of 60 s plus
set-up; ``--clients 200 --seconds 60`` are the defaults; ``--quick`` is 50 clients for
20 s). Needs the chat benchmark's organization and 10k-chunk collection (bench/chat.py
builds them on first use, in this process, the same way).

What runs: a real ``uvicorn config.asgi:application --workers 1`` (dev settings, DEBUG off,
AI_MAX_RETRIES=0), bench/chat.py's wire-level fake OpenAI server in its own process, and a
Redis of this benchmark's own on a free port (so it can be restarted without touching
anybody else's). N clients (one async httpx client, N connections) each loop for T
seconds: ``POST /api/v1/chat`` (SSE) with the 10k-collection assistant (hybrid retrieval,
top 6), read to ``done`` / ``error`` / the end, then the next question. Every question
carries a unique tag, so the audit can find exactly its rows.

Two runs: ``plain``, and ``redis-restart`` (Redis stopped half-way for DOWN_S seconds,
then started again on the same port with no data). The second run counts clean refusals
(HTTP 503 in the one error format, nothing stored) apart from losses.

The audit (per run): for every request, the rows with its tag:
- completed (``done`` seen): exactly one question and one answer, ``complete``; else lost
  (missing rows) or duplicated (more than one);
- refused (HTTP status != 200): nothing stored, else "stored though refused";
- cut or failed: its answer in a final state; an answer still ``streaming`` is stuck;
- money (after the worker settled: no answer of the run still in progress): ledger (the chat usage rows of the run's assistant since the run began) = the
  answers' tokens and cost = the sessions' totals; sessions' message counts = their rows.

Throughput at saturation (the plain run): completed turns per second, as a ratio to the
bare local embedder's query throughput (one query per call, this process, measured before
and after the runs): the one per-turn CPU cost retrieval cannot avoid offline. Target 0.8
(issue 21 item 10). The time to first token and where the worker's CPU went (sampled) are
reported beside it.

Results: bench/results/soak-<UTC stamp>.json and soak-latest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/common.py

import common
import httpx2

_spec = importlib.util.spec_from_file_location("chatbench", Path(__file__).with_name("chat.py"))
chatbench = importlib.util.module_from_spec(_spec)
sys.modules["chatbench"] = chatbench
_spec.loader.exec_module(chatbench)

CLIENTS, SECONDS = 200, 60
QUICK_CLIENTS, QUICK_SECONDS = 50, 20
DOWN_S = 5.0  # how long Redis stays down in the fault run
SETTLE_CAP_S = 240.0  # after the clients stop: wait (at most this) for in-flight answers
EMBED_BASELINE_S = 5.0
TARGET_RATIO = 0.8


@dataclass
class Request:
    tag: str
    sent: float
    status: int | None = None
    first_delta_s: float | None = None
    ended: float | None = None
    outcome: str = ""  # done, error_event, refused, cut, transport


# -- Redis of our own ------------------------------------------------------------------------


class OwnRedis:
    def __init__(self, children: Any) -> None:
        from config.localservices import redis_binary

        self.binary, self.port = redis_binary(), common.free_port()
        self.log = children.logdir / f"redis-{self.port}.log"
        self.process: subprocess.Popen | None = None
        self.restarts: list[dict] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [
            self.binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        self.process = subprocess.Popen(
            command, stdout=self.log.open("a"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                import redis

                redis.Redis(port=self.port, socket_timeout=1).ping()
                return
            except Exception:
                time.sleep(0.1)
        raise RuntimeError(f"redis on {self.port} did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def restart(self, down_s: float) -> None:
        began = time.perf_counter()
        self.stop()
        time.sleep(down_s)
        self.start()
        self.restarts.append({"down_s": round(time.perf_counter() - began, 2)})


# -- the clients -----------------------------------------------------------------------------


async def one_turn(client: Any, user: Any, assistant: str, question: str, record: Request):
    record.sent = time.perf_counter()
    try:
        async with client.stream(
            "POST",
            "/api/v1/chat",
            json={"assistant": assistant, "message": question},
            headers=user.headers,
        ) as response:
            record.status = response.status_code
            if response.status_code != 200:
                await response.aread()
                record.outcome = "refused"
                return
            reader = chatbench.SSEReader()
            async for data in response.aiter_raw():
                for name, _ in reader.feed(data):
                    if name == "delta" and record.first_delta_s is None:
                        record.first_delta_s = time.perf_counter() - record.sent
                    elif name == "done":
                        record.outcome = "done"
                    elif name == "error":
                        record.outcome = "error_event"
            if not record.outcome:
                record.outcome = "cut"
    except (httpx2.HTTPError, OSError) as exc:
        record.outcome = f"transport: {type(exc).__name__}"
    finally:
        record.ended = time.perf_counter()


async def clients(
    base: str, users: list, assistant: str, n: int, seconds: float, run_id: str, halfway=None
) -> list[Request]:
    texts = chatbench.questions(500, offset=random.randrange(300))
    records: list[Request] = []
    limits = httpx2.Limits(max_connections=None, max_keepalive_connections=n)
    # Generous: an overloaded worker shows as latency, not as clients giving up.
    timeout = httpx2.Timeout(connect=60, read=300, write=60, pool=None)
    deadline = time.perf_counter() + seconds

    async def loop(number: int) -> None:
        sequence = 0
        await asyncio.sleep(random.uniform(0, min(5.0, seconds / 4)))  # no thundering herd
        while time.perf_counter() < deadline:
            tag = f"soak-{run_id}-{number}-{sequence}"
            record = Request(tag, 0.0)
            records.append(record)
            question = f"{texts[(number * 7 + sequence) % len(texts)]} [{tag}]"
            await one_turn(client, users[number % len(users)], assistant, question, record)
            if record.outcome != "done":
                await asyncio.sleep(0.2)  # a refused client backs off a little
            sequence += 1

    async with httpx2.AsyncClient(
        base_url=base, limits=limits, timeout=timeout, trust_env=False
    ) as client:
        tasks = [asyncio.create_task(loop(i)) for i in range(n)]
        if halfway is not None:
            await asyncio.sleep(seconds / 2)
            await asyncio.to_thread(halfway)
        await asyncio.gather(*tasks)
    return records


# -- the audit -------------------------------------------------------------------------------


def audit(run_id: str, records: list[Request], assistant_id: str, since: Any) -> dict:
    """Exactly once, in the database: see the module docstring."""
    from decimal import Decimal

    from django.db.models import Count, Sum
    from django_tenants.utils import schema_context

    from billing.models import UsageRecord
    from chat.models import ChatSession, Message

    prefix = f"soak-{run_id}-"
    with schema_context(chatbench.ORG_SLUG):
        rows = list(
            Message.objects.filter(
                session__assistant_id=assistant_id, created_at__gte=since
            ).values(
                "id",
                "role",
                "status",
                "content",
                "reply_to_id",
                "session_id",
                "total_tokens",
                "cost",
            )
        )
        session_ids = {r["session_id"] for r in rows}
        sessions = list(
            ChatSession.objects.filter(pk__in=session_ids).values(
                "id", "message_count", "total_tokens", "total_cost"
            )
        )
    ledger = UsageRecord.objects.filter(
        organization__schema_name=chatbench.ORG_SLUG,
        assistant_id=assistant_id,
        kind="chat",
        created_at__gte=since,
    ).aggregate(tokens=Sum("total_tokens"), cost=Sum("cost"), rows=Count("id"))

    questions: dict[str, list[dict]] = {}
    for row in rows:
        if row["role"] == "user" and prefix in row["content"]:
            tag = row["content"].rsplit("[", 1)[-1].rstrip("]")
            questions.setdefault(tag, []).append(row)
    answers: dict[Any, list[dict]] = {}
    for row in rows:
        if row["role"] == "assistant":
            answers.setdefault(row["reply_to_id"], []).append(row)

    counts: Counter = Counter()
    for record in records:
        asked = questions.get(record.tag, [])
        replies = [a for q in asked for a in answers.get(q["id"], [])]
        statuses = [a["status"] for a in replies]
        if len(asked) > 1 or len(replies) > 1:
            counts["duplicated"] += 1
        if "streaming" in statuses:
            counts["stuck"] += 1
        if record.outcome == "done":
            if len(asked) == 1 and statuses == ["complete"]:
                counts["completed_exactly_once"] += 1
            else:
                counts["lost"] += 1
        elif record.outcome == "refused":
            key = "refused_503" if record.status == 503 else f"refused_{record.status}"
            counts[key] += 1
            if asked:
                counts["stored_though_refused"] += 1
        else:
            counts[record.outcome] += 1
            if asked and not replies:
                counts["question_without_answer"] += 1
    answer_rows = [r for r in rows if r["role"] == "assistant"]
    money = {
        "ledger_rows": ledger["rows"],
        "ledger_tokens": ledger["tokens"] or 0,
        "messages_tokens": sum(r["total_tokens"] for r in answer_rows),
        "sessions_tokens": sum(s["total_tokens"] for s in sessions),
        "ledger_cost": str(ledger["cost"] or Decimal(0)),
        "messages_cost": str(sum((r["cost"] for r in answer_rows), Decimal(0))),
        "sessions_cost": str(sum((s["total_cost"] for s in sessions), Decimal(0))),
        "sessions_message_count": sum(s["message_count"] for s in sessions),
        "message_rows": len(rows),
    }
    money["adds_up"] = (
        money["ledger_tokens"] == money["messages_tokens"] == money["sessions_tokens"]
        and Decimal(money["ledger_cost"])
        == Decimal(money["messages_cost"])
        == Decimal(money["sessions_cost"])
        and money["sessions_message_count"] == money["message_rows"]
    )
    return {"counts": dict(counts), "money": money}


def settle(assistant_id: str, since: Any) -> float | None:
    """Wait until the worker has no answer of this run in progress (a client that gave up
    leaves its answer running until the server notices): the next run and the audit then
    see only finished rows. None: still some in progress after SETTLE_CAP_S (stuck)."""
    from django_tenants.utils import schema_context

    from chat.models import Message

    began = time.perf_counter()
    while time.perf_counter() - began < SETTLE_CAP_S:
        with schema_context(chatbench.ORG_SLUG):
            running = Message.objects.filter(
                session__assistant_id=assistant_id, created_at__gte=since, status="streaming"
            ).exists()
        if not running:
            return round(time.perf_counter() - began, 1)
        time.sleep(1.0)
    return None


# -- baseline: the bare embedder -------------------------------------------------------------


def embedder_queries_per_s(seconds: float) -> float:
    """Single-query embeddings, back to back, in this process: the unavoidable per-turn cost."""
    from assistants.providers.local_embedder import get_local_embedder

    embedder = get_local_embedder()
    texts = chatbench.questions(300, offset=100)
    embedder.embed(texts[:3])  # loaded and warm
    done, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        embedder.embed([texts[done % len(texts)]])
        done += 1
    return done / (time.perf_counter() - began)


# -- runs ------------------------------------------------------------------------------------


def worker_sampler(pid: int) -> tuple[threading.Event, list]:
    import psutil

    process, samples, stop = psutil.Process(pid), [], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            cpu = process.cpu_times()
            samples.append(
                {
                    "t": time.perf_counter(),
                    "cpu_s": cpu.user + cpu.system,
                    "rss_mb": process.memory_info().rss / 2**20,
                    "threads": process.num_threads(),
                }
            )
            stop.wait(1.0)

    threading.Thread(target=sample, daemon=True).start()
    return stop, samples


def one_run(name: str, args, base, users, fixture, server, redis: OwnRedis, fault: bool) -> dict:
    from django.utils import timezone

    run_id = f"{name}-{int(time.time())}"
    since = timezone.now()
    stop, samples = worker_sampler(server.process.pid)
    halfway = (lambda: redis.restart(DOWN_S)) if fault else None
    began = time.perf_counter()
    records = asyncio.run(
        clients(base, users, fixture.assistant_kb, args.clients, args.seconds, run_id, halfway)
    )
    elapsed = time.perf_counter() - began
    settled_s = settle(fixture.assistant_kb, since)
    stop.set()
    result = audit(run_id, records, fixture.assistant_kb, since)
    done = [r for r in records if r.outcome == "done"]
    ttft = [r.first_delta_s for r in done if r.first_delta_s is not None]
    cpu = (
        (samples[-1]["cpu_s"] - samples[0]["cpu_s"]) / (samples[-1]["t"] - samples[0]["t"])
        if len(samples) > 1
        else 0
    )
    result.update(
        {
            "run": name,
            "clients": args.clients,
            "seconds": args.seconds,
            "elapsed_s": round(elapsed, 1),
            "requests": len(records),
            "outcomes": dict(Counter(r.outcome for r in records)),
            "statuses": dict(Counter(str(r.status) for r in records)),
            "completed_per_s": round(len(done) / elapsed, 2),
            "ttft": common.latency_summary(ttft) if ttft else None,
            "worker_cpu_share": round(cpu, 2),
            "worker_rss_peak_mb": round(max((s["rss_mb"] for s in samples), default=0), 1),
            "worker_threads_peak": max((s["threads"] for s in samples), default=0),
            "redis_restarts": list(redis.restarts) if fault else [],
            "settled_after_s": settled_s,
        }
    )
    counts = result["counts"]
    result["pass"] = (
        counts.get("lost", 0) == counts.get("duplicated", 0) == counts.get("stuck", 0) == 0
        and counts.get("stored_though_refused", 0) == 0
        and result["money"]["adds_up"]
    )
    return result


def print_run(result: dict) -> None:
    ttft = result["ttft"] or {}
    print(
        f"\n{result['run']}: {result['clients']} clients x {result['seconds']} s: "
        f"{result['requests']} requests, {result['completed_per_s']} completed/s, "
        f"TTFT p50 {ttft.get('p50_ms', 0):.0f} ms p95 {ttft.get('p95_ms', 0):.0f} ms, "
        f"worker CPU {result['worker_cpu_share']:.0%}, threads peak {result['worker_threads_peak']}"
    )
    print(f"  outcomes {result['outcomes']}  statuses {result['statuses']}")
    print(f"  audit {result['counts']}")
    money = result["money"]
    print(
        f"  ledger {money['ledger_tokens']} tokens / {money['ledger_cost']}; messages "
        f"{money['messages_tokens']} / {money['messages_cost']}; sessions {money['sessions_tokens']} "
        f"/ {money['sessions_cost']}; adds up: {money['adds_up']}"
    )
    print(f"  {'PASS' if result['pass'] else 'FAIL'}: 0 lost, 0 duplicated, 0 stuck, totals add up")


def run(args: argparse.Namespace, children: Any) -> int:
    started = time.perf_counter()
    common.setup_django()
    _fake, fake_url = chatbench.start_fake(children)
    fixture = chatbench.prepare_fixture(fake_url)
    redis = OwnRedis(children)
    redis.start()
    children.add(chatbench.Child("redis", redis.process, redis.log))
    os.environ["REDIS_URL"] = redis.url  # uvicorn's environment (chatbench.child_env)
    from django.conf import settings

    settings.REDIS_URL = redis.url
    server, base = chatbench.start_uvicorn(children)
    users = [chatbench.login(base, email) for email in fixture.emails]
    print(f"uvicorn at {base}, Redis on {redis.port}, {fixture.chunks} chunks", flush=True)
    before = embedder_queries_per_s(EMBED_BASELINE_S)
    print(f"bare embedder: {before:.1f} queries/s", flush=True)
    runs = [one_run("plain", args, base, users, fixture, server, redis, fault=False)]
    print_run(runs[-1])
    after = embedder_queries_per_s(EMBED_BASELINE_S)
    baseline = (before + after) / 2
    print(f"bare embedder after: {after:.1f} queries/s", flush=True)
    if not args.no_fault:
        runs.append(one_run("redis-restart", args, base, users, fixture, server, redis, fault=True))
        print_run(runs[-1])
    ratio = runs[0]["completed_per_s"] / baseline if baseline else 0
    print(
        f"\nthroughput with retrieval: {runs[0]['completed_per_s']} turns/s vs bare embedder "
        f"{baseline:.1f} queries/s: ratio {ratio:.2f} (target {TARGET_RATIO}: "
        f"{common.verdict(ratio >= TARGET_RATIO)})"
    )
    problems = chatbench.log_problems(server)
    common.write_results(
        "soak",
        {
            "method": __doc__,
            "note": args.note,
            "fixture": asdict(fixture),
            "runs": runs,
            "embedder_queries_per_s": {"before": round(before, 1), "after": round(after, 1)},
            "throughput_ratio": round(ratio, 3),
            "target_ratio": TARGET_RATIO,
            "uvicorn_log_problems": problems,
            "load_average_end": os.getloadavg(),
            "elapsed_s": round(time.perf_counter() - started, 1),
        },
    )
    return 0 if all(r["pass"] for r in runs) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_CLIENTS} clients, {QUICK_SECONDS} s"
    )
    parser.add_argument("--no-fault", action="store_true", help="skip the Redis-restart run")
    parser.add_argument("--note", default="")
    args = parser.parse_args()
    args.clients = args.clients or (QUICK_CLIENTS if args.quick else CLIENTS)
    args.seconds = args.seconds or (QUICK_SECONDS if args.quick else SECONDS)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    chatbench.raise_open_files_limit()
    children = chatbench.Children()
    try:
        return run(args, children)
    finally:
        children.stop_all()


if __name__ == "__main__":
    sys.exit(main())

"""Where a chat turn's time to first token goes, in process: ms per part, SQL statements
and Redis round trips per turn, with and without retrieval over the 10k collection.

Run from the repository root (the fixture is bench/chat.py's, built on first use):
``python bench/chat_profile.py [--turns 30] [--cprofile] [--write]``. Django's test client
drives the real view (middleware, session auth, DRF, the async answering view and the SSE
stream to its end) against the real PostgreSQL and Redis with the web server's connection
pool (``DB_POOL_MAX_SIZE``, as config/asgi.py sets it); the provider is bench/chat.py's fake
server in its own process. Every turn asks a question not asked before in this process, so
the query embedding is computed (and recorded) as on a real turn: bench/chat.py's own
in-process breakdown times retrieval with the embedding cached.

Parts are inclusive wall times of named functions, wrapped here (``PARTS``); "request to
chat_prepare" is the middleware, authentication and DRF before the turn; "response to
first delta" is the stream's start (the provider's own TTFT included). A diagnosis tool:
it prints the table, and ``--write`` stores it (bench/results/chat-profile-*.json).
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import importlib
import importlib.util
import os
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import widget_profile  # its SQL and Redis counters

os.environ.setdefault("DB_POOL_MAX_SIZE", "20")

# (module, attribute, label): wrapped and timed, inclusive; nested labels are indented.
PARTS = (
    ("chat.turn", "turn_inputs", "turn_inputs (assistant, quota)"),
    ("chat.turn", "turn_context", "turn_context"),
    ("chat.turn", "_history", "  history"),
    ("chat.turn", "_collections", "  collections"),
    ("knowledge_base.retrieval.hybrid", "_ranked", "  search: ranked"),
    ("knowledge_base.retrieval.vector", "embed_query", "    query embedding"),
    ("assistants.gateway", "ai_embed", "      ai_embed (quota, model, ledger)"),
    ("knowledge_base.retrieval.vector", "embed_query_start", "    query embedding started"),
    (
        "knowledge_base.retrieval.vector",
        "PendingQueryEmbeddings.result",
        "    query embedding awaited (+ ledger)",
    ),
    ("assistants.gateway", "_record_usage", "        ledger row(s)"),
    ("knowledge_base.retrieval.vector", "vector_search", "    vector search"),
    ("knowledge_base.retrieval.hybrid", "keyword_search", "    keyword search"),
    ("knowledge_base.retrieval.hybrid", "add_snippets", "  search: snippets"),
    ("chat.turn", "_request", "  prompt (_request)"),
    ("assistants.gateway", "ai_stream_plan", "  stream plan (quota, credential)"),
    ("assistants.gateway", "provider_config_for", "    credential"),
    ("chat.turn", "turn_rows", "turn_rows"),
    ("chat.turn", "estimated_prompt_tokens", "  estimated prompt tokens"),
)
TOKEN_COUNTERS = ("chat.turn", "chat.conversation")  # modules that imported count_tokens


class Timings:
    def __init__(self) -> None:
        self.turn: dict[str, float] = defaultdict(float)
        self.samples: dict[str, list[float]] = defaultdict(list)

    def add(self, label: str, seconds: float) -> None:
        self.turn[label] += seconds

    def end_turn(self) -> None:
        for label, seconds in self.turn.items():
            self.samples[label].append(seconds)
        self.turn = defaultdict(float)

    def clear(self) -> None:
        self.turn = defaultdict(float)
        self.samples.clear()


timings = Timings()


def _wrap(module_name: str, attribute: str, label: str) -> None:
    """Time ``module.attribute`` (``Class.method`` too); absent in this code: skipped."""
    owner = importlib.import_module(module_name)
    *path, attribute = attribute.split(".")
    for name in path:
        owner = getattr(owner, name, None)
    original = getattr(owner, attribute, None)
    if original is None:
        return

    @functools.wraps(original)
    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            timings.add(label, time.perf_counter() - started)

    setattr(owner, attribute, timed)


def instrument() -> None:
    widget_profile._instrument()
    for module_name, attribute, label in PARTS:
        _wrap(module_name, attribute, label)
    for module_name in TOKEN_COUNTERS:
        _wrap(module_name, "count_tokens", "  count_tokens (all calls)")


def load_chat_bench():
    """bench/chat.py under another name (``chat`` is the Django app)."""
    path = Path(__file__).resolve().parent / "chat.py"
    spec = importlib.util.spec_from_file_location("chat_bench", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["chat_bench"] = module
    spec.loader.exec_module(module)
    return module


def first_delta_and_rest(response) -> tuple[float, bytes]:
    """Seconds until the first ``delta`` event, and the whole body."""
    from asgiref.sync import async_to_sync

    async def read():
        started, first, chunks = time.perf_counter(), None, []
        async for chunk in response.streaming_content:
            chunks.append(chunk)
            if first is None and b"event: delta" in chunk:
                first = time.perf_counter() - started
        return first, b"".join(chunks)

    return async_to_sync(read)()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=30)
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--only", choices=["kb", "plain"])
    parser.add_argument("--write", action="store_true", help="write bench/results/")
    parser.add_argument("--note", default="")
    args = parser.parse_args()
    common.setup_django()
    chat_bench = load_chat_bench()
    instrument()
    from django.test import Client

    from chat import turn as turn_module
    from users.models import User

    children = chat_bench.Children()
    try:
        _, fake_url = chat_bench.start_fake(children)
        fixture = chat_bench.prepare_fixture(fake_url)
        member = Client(HTTP_HOST=chat_bench.HOST)
        member.force_login(User.objects.get(email=fixture.emails[0]))
        # Distinct questions: none is in the query-embedding cache.
        texts = iter(chat_bench.questions(2 * (args.turns + 3) + 10, offset=37))
        started_prepare: list[float] = []
        original_inputs = turn_module.turn_inputs

        def marked(*a, **k):
            started_prepare.append(time.perf_counter())
            return original_inputs(*a, **k)

        turn_module.turn_inputs = marked

        def turn(assistant: str) -> None:
            started_prepare.clear()
            started = time.perf_counter()
            response = member.post(
                "/api/v1/chat",
                {"assistant": assistant, "message": next(texts)},
                content_type="application/json",
            )
            returned = time.perf_counter()
            assert response.status_code == 200, response.content
            first, body = first_delta_and_rest(response)
            assert b"event: done" in body, body[-300:]
            timings.add("request to chat_prepare", started_prepare[0] - started)
            timings.add("chat_prepare to response", returned - started_prepare[0])
            timings.add("response to first delta", first)
            timings.add("TOTAL: request to first delta", returned - started + first)
            timings.end_turn()

        paths = {"kb": fixture.assistant_kb, "plain": fixture.assistant_plain}
        if args.only:
            paths = {args.only: paths[args.only]}
        report: dict = {
            "turns": args.turns,
            "note": args.note,
            "load_average_before": [round(v, 2) for v in os.getloadavg()],
        }
        print("load average", os.getloadavg())
        for name, assistant in paths.items():
            for _ in range(3):
                turn(assistant)  # warm: imports, pool, encodings, the embedder
            widget_profile.sql.clear()
            widget_profile.redis_trips.clear()
            timings.clear()
            profile = cProfile.Profile() if args.cprofile else None
            if profile:
                profile.enable()
            for _ in range(args.turns):
                turn(assistant)
            if profile:
                profile.disable()
            report[name] = summarise(name, args.turns)
            if profile:
                stats = pstats.Stats(profile)
                stats.sort_stats("cumulative").print_stats(60)
                stats.sort_stats("tottime").print_stats(30)
        report["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
        print("load average", os.getloadavg())
        if args.write:
            common.write_results("chat-profile", report)
    finally:
        children.stop_all()


def summarise(name: str, turns: int) -> dict:
    sql, redis_trips = widget_profile.sql, widget_profile.redis_trips
    parts = {label: common.latency_summary(samples) for label, samples in timings.samples.items()}
    order = ["request to chat_prepare", "chat_prepare to response"]
    order += [label for _, _, label in PARTS] + ["  count_tokens (all calls)"]
    order += ["response to first delta", "TOTAL: request to first delta"]
    print(
        f"\n== {name}: {turns} turns; {sum(sql.values()) / turns:.1f} SQL statements and "
        f"{sum(redis_trips.values()) / turns:.1f} Redis round trips per turn"
    )
    for label in order:
        if label in parts:
            print(f"  {parts[label]['p50_ms']:8.2f} ms p50  {label}")
    for text, count in sql.most_common():
        print(f"  sql {count / turns:5.2f}  {text}")
    for text, count in redis_trips.most_common():
        print(f"  redis {count / turns:5.2f}  {text}")
    return {
        "parts_ms": parts,
        "sql_per_turn": round(sum(sql.values()) / turns, 2),
        "redis_round_trips_per_turn": round(sum(redis_trips.values()) / turns, 2),
        "sql": {text: count / turns for text, count in sql.most_common()},
        "redis": {text: count / turns for text, count in redis_trips.most_common(20)},
    }


if __name__ == "__main__":
    main()

"""One widget turn and one dashboard turn, in process: SQL statements, Redis round trips,
wall and CPU time per turn, and (``--cprofile``) where the CPU goes.

Run from the repository root after ``python bench/widget.py`` has prepared organization
"benchwidget": ``python bench/widget_profile.py [--turns 20] [--cprofile]``. Django's
test client drives the real views (middleware, the async answering view, the stream to its
end) against the real PostgreSQL and Redis, with the web server's connection pool on
(``DB_POOL_MAX_SIZE``, as ``config/asgi.py`` sets it). A diagnosis tool: it prints counts
and times, and with ``--write`` stores them (bench/results/widget-profile-*.json).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

os.environ.setdefault("DB_POOL_MAX_SIZE", "20")

ORG_SLUG = "benchwidget"
HOST = f"{ORG_SLUG}.localhost"
QUESTION = "How do I install the desktop app?"
SITE = "https://shop.bench.example"

_lock = threading.Lock()
sql: Counter = Counter()
redis_trips: Counter = Counter()


def _instrument() -> None:
    """Count every SQL statement (any thread) and every Redis round trip."""
    import redis.connection
    from django.db.backends import utils

    execute, executemany = utils.CursorWrapper.execute, utils.CursorWrapper.executemany

    def counted_execute(self, sql_text, params=None):
        with _lock:
            sql[" ".join(str(sql_text).split())[:110]] += 1
        return execute(self, sql_text, params)

    def counted_executemany(self, sql_text, param_list):
        with _lock:
            sql[" ".join(str(sql_text).split())[:110]] += 1
        return executemany(self, sql_text, param_list)

    utils.CursorWrapper.execute = counted_execute
    utils.CursorWrapper.executemany = counted_executemany
    send = redis.connection.AbstractConnection.send_packed_command

    def counted_send(self, command, check_health=True):
        first = command[0] if isinstance(command, list | tuple) else command
        text = bytes(first)[:80] if isinstance(first, bytes | memoryview) else str(first)[:80]
        words = [w for w in text.split(b"\r\n") if w and not w.startswith((b"*", b"$"))][:2]
        with _lock:
            redis_trips[b" ".join(words).decode(errors="replace")[:60]] += 1
        return send(self, command, check_health)

    redis.connection.AbstractConnection.send_packed_command = counted_send


def _read(response) -> bytes:
    """The whole stream (an async iterator: the answer streams on the event loop)."""
    from asgiref.sync import async_to_sync

    async def read():
        return b"".join([chunk async for chunk in response.streaming_content])

    return async_to_sync(read)()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--only", choices=["widget", "dashboard"])
    parser.add_argument("--write", action="store_true", help="write bench/results/")
    args = parser.parse_args()
    common.setup_django()
    _instrument()
    from django.test import Client

    from assistants.models import Assistant
    from integrations.models import WidgetConfiguration
    from users.models import User

    widget = WidgetConfiguration.objects.get(organization__schema_name=ORG_SLUG, name="TTFT")
    from django_tenants.utils import schema_context

    with schema_context(ORG_SLUG):
        assistant = str(Assistant.objects.get(name="Help Center").pk)
    member = Client(HTTP_HOST=HOST)
    member.force_login(User.objects.get(email="bench-widget@example.com"))
    visitor = Client(HTTP_HOST=HOST, HTTP_ORIGIN=SITE)

    turns = iter(range(1, 1_000_000))
    # Seconds until the view returned its streaming response (authorization, limits and
    # the turn prepared: the server's part of the time to first token), per path.
    prepared: dict[str, list[float]] = {"widget": [], "dashboard": []}

    def widget_turn():
        # An address per turn, as visitors have: DRF's anonymous throttle (THROTTLE_ANON,
        # 60/min per address) would refuse a run's turns from one address.
        number = next(turns)
        started = time.perf_counter()
        response = visitor.post(
            f"/api/v1/widget/{widget.public_id}/chat",
            {"message": QUESTION},
            content_type="application/json",
            REMOTE_ADDR=f"10.{os.getpid() % 256}.{number // 256 % 256}.{number % 256}",
        )
        prepared["widget"].append(time.perf_counter() - started)
        assert response.status_code == 200, response.content
        body = _read(response)
        assert b"event: done" in body, body[-300:]

    def dashboard_turn():
        started = time.perf_counter()
        response = member.post(
            "/api/v1/chat",
            {"assistant": assistant, "message": QUESTION},
            content_type="application/json",
        )
        prepared["dashboard"].append(time.perf_counter() - started)
        assert response.status_code == 200, response.content
        body = _read(response)
        assert b"event: done" in body, body[-300:]

    paths = {"widget": widget_turn, "dashboard": dashboard_turn}
    if args.only:
        paths = {args.only: paths[args.only]}
    load_before = os.getloadavg()
    print("load average", load_before)
    report: dict = {"turns": args.turns, "load_average_before": [round(v, 2) for v in load_before]}
    for name, turn in paths.items():
        for _ in range(3):
            turn()  # warm: imports, pool, caches
        sql.clear()
        redis_trips.clear()
        prepared[name].clear()
        profile = cProfile.Profile() if args.cprofile else None
        wall, cpu = time.perf_counter(), time.process_time()
        if profile:
            profile.enable()
        for _ in range(args.turns):
            turn()
        if profile:
            profile.disable()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(
            f"\n== {name}: {args.turns} turns, {wall / args.turns * 1000:.1f} ms wall and "
            f"{cpu / args.turns * 1000:.1f} ms CPU per turn; "
            f"{sum(sql.values()) / args.turns:.1f} SQL statements and "
            f"{sum(redis_trips.values()) / args.turns:.1f} Redis round trips per turn; "
            f"prepared (response returned) p50 "
            f"{common.percentile(prepared[name], 50) * 1000:.1f} ms"
        )
        report[name] = {
            "prepared_ms": common.latency_summary(prepared[name]),
            "wall_ms_per_turn": round(wall / args.turns * 1000, 1),
            "cpu_ms_per_turn": round(cpu / args.turns * 1000, 1),
            "sql_per_turn": round(sum(sql.values()) / args.turns, 2),
            "redis_round_trips_per_turn": round(sum(redis_trips.values()) / args.turns, 2),
            "sql": {text: count / args.turns for text, count in sql.most_common()},
            "redis": {text: count / args.turns for text, count in redis_trips.most_common(20)},
        }
        for text, count in sql.most_common():
            print(f"  sql {count / args.turns:5.2f}  {text}")
        for text, count in redis_trips.most_common():
            print(f"  redis {count / args.turns:5.2f}  {text}")
        if profile:
            stats = pstats.Stats(profile)
            stats.sort_stats("cumulative").print_stats(45)
            stats.sort_stats("tottime").print_stats(25)
    print("load average", os.getloadavg())
    report["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    if args.write:
        common.write_results("widget-profile", report)


if __name__ == "__main__":
    main()

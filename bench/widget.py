"""The website widget: its time-to-first-token overhead against the dashboard chat on the
same assistant, and anonymous visitors held to the widget's limits.

Run from the repository root: ``python bench/widget.py`` (``--quick``: fewer rounds and
visitors). A real uvicorn worker (dev settings, DEBUG off) serves organization
"benchwidget" (the starter Help Center assistant on the local extractive responder, with
the demo handbook). Targets (issue 16): widget TTFT / dashboard TTFT <= 1.1 (medians,
paired rounds in alternating order); 500 visitors in 60 s: accepted messages never above
the widget's limits in any rate window, and no 5xx.

1. TTFT: the dashboard path is ``POST /api/v1/chat`` with a session cookie and CSRF token
   (a member logged in through the login page); the widget path is ``POST
   /api/v1/widget/<id>/chat`` with an allowed Origin. TTFT = request sent -> first
   ``event: delta`` at the client.
2. Visitors: VISITORS anonymous visitors arrive evenly over SECONDS, each from its own
   address (``X-Forwarded-For``, which uvicorn trusts from 127.0.0.1 by default) and each
   sends two messages a second apart; the widget allows 1 message per address and
   PER_WIDGET per minute. Counted: accepted (200, stream ended with ``done``), 429 per
   reason, 5xx, other.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import httpx2

ORG_SLUG, ORG_NAME = "benchwidget", "Benchmark: widget"
HOST = f"{ORG_SLUG}.localhost"
PASSWORD = "Bench-widget-2026-not-secret"
EMAIL = "bench-widget@example.com"
SITE = "https://shop.bench.example"
QUESTION = "How do I install the desktop app?"
PER_WIDGET = 200
PYTHON = str(common.ROOT / ".venv" / "bin" / "python")


def prepare() -> tuple[str, str, str]:
    """(assistant id, TTFT widget public id, load widget public id)."""
    from allauth.account.models import EmailAddress
    from django_tenants.utils import schema_context

    from assistants.models import Assistant
    from assistants.services import assistants_create_defaults
    from audit.services import Actor
    from chat.models import ChatSession, Message
    from integrations.models import WidgetConfiguration
    from integrations.widget import services
    from knowledge_base.demo import knowledge_demo_seed
    from users.models import Membership, Role, User
    from users.services import user_create

    organization = common.benchmark_organization(ORG_SLUG, ORG_NAME)
    user = User.objects.filter(email=EMAIL).first() or user_create(
        email=EMAIL, password=PASSWORD, name="Bench widget", verified=True
    )
    EmailAddress.objects.filter(user=user).update(verified=True)
    Membership.objects.get_or_create(
        user=user, organization=organization, defaults={"role": Role.ADMIN}
    )
    WidgetConfiguration.objects.filter(organization=organization).delete()
    with schema_context(ORG_SLUG):
        assistants_create_defaults()
        knowledge_demo_seed()
        Message.objects.all().delete()
        ChatSession.objects.all().delete()
        assistant = Assistant.objects.get(name="Help Center")
        common_fields = dict(
            organization=organization,
            actor=Actor(user=user),
            assistant_id=assistant.pk,
            allowed_domains=["shop.bench.example"],
            max_conversation_messages=1000,
        )
        ttft = services.widget_create(
            name="TTFT",
            messages_per_minute=10_000,
            messages_per_minute_per_address=10_000,
            **common_fields,
        )
        load = services.widget_create(
            name="Load",
            messages_per_minute=PER_WIDGET,
            messages_per_minute_per_address=1,
            **common_fields,
        )
    return str(assistant.pk), ttft.public_id, load.public_id


def start_uvicorn(logdir: Path) -> tuple[subprocess.Popen, str]:
    from django.conf import settings

    port = common.free_port()
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.dev",
        DATABASE_URL=settings.DATABASE_URL,
        REDIS_URL=settings.REDIS_URL,
        DEBUG="false",
        PYTHONUNBUFFERED="1",
    )
    log = (logdir / f"uvicorn-widget-{port}.log").open("w")
    process = subprocess.Popen(
        common.uvicorn_command(PYTHON, port, access_log=False),
        cwd=common.ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx2.HTTPError):
            if httpx2.get(f"{base}/readyz", timeout=2, trust_env=False).status_code == 200:
                return process, base
        time.sleep(0.3)
    process.kill()
    raise RuntimeError("uvicorn did not start")


def login(base: str) -> dict[str, str]:
    host = f"{HOST}:{base.rsplit(':', 1)[1]}"
    with httpx2.Client(base_url=base, headers={"Host": host}, trust_env=False, timeout=60) as c:
        c.get("/accounts/login/").raise_for_status()
        token = c.cookies["csrftoken"]
        answer = c.post(
            "/accounts/login/",
            data={"login": EMAIL, "password": PASSWORD, "csrfmiddlewaretoken": token},
        )
        if answer.status_code != 302:
            raise RuntimeError(f"login failed: {answer.status_code}")
        return {
            "Host": host,
            "Cookie": f"sessionid={c.cookies['sessionid']}; csrftoken={c.cookies['csrftoken']}",
            "X-CSRFToken": c.cookies["csrftoken"],
            "Accept": "*/*",
        }


async def first_delta(
    client, url: str, body: dict, headers: dict, head_times: list | None = None
) -> tuple[int, float | None, bool]:
    """(status, seconds to the first delta, ended with done); the seconds to the
    response's headers (the turn prepared) are appended to ``head_times``."""
    started = time.perf_counter()
    ttft, done = None, False
    async with client.stream("POST", url, json=body, headers=headers) as response:
        if head_times is not None:
            head_times.append(time.perf_counter() - started)
        if response.status_code != 200:
            await response.aread()
            return response.status_code, None, False
        buffer = b""
        async for chunk in response.aiter_bytes():
            buffer += chunk
            if ttft is None and b"event: delta" in buffer:
                ttft = time.perf_counter() - started
            if b"event: done" in buffer:
                done = True
    return 200, ttft, done


async def measure_ttft(base: str, assistant: str, widget: str, rounds: int) -> dict:
    dashboard = login(base)
    host = dashboard["Host"]
    # Each widget message from an address of its own, as visitors' are: from one address,
    # two runs within a minute pass DRF's anonymous throttle (THROTTLE_ANON, 60/min) and
    # the second run's TTFT stopped at a 429 (2026-12-01).
    addresses = (f"10.255.{n // 250 % 256}.{n % 250 + 1}" for n in itertools.count())

    def visitor() -> dict:
        return {"Host": host, "Origin": SITE, "Accept": "*/*", "X-Forwarded-For": next(addresses)}

    results = {"dashboard": [], "widget": []}
    heads = {"dashboard": [], "widget": []}  # to the response's headers: the preparation
    load_before = os.getloadavg()
    async with httpx2.AsyncClient(base_url=base, trust_env=False, timeout=60) as client:
        for _ in range(3):  # warm both paths (imports, connections, caches)
            await first_delta(
                client, "/api/v1/chat", {"assistant": assistant, "message": QUESTION}, dashboard
            )
            await first_delta(
                client, f"/api/v1/widget/{widget}/chat", {"message": QUESTION}, visitor()
            )
        for number in range(rounds):
            order = ["dashboard", "widget"] if number % 2 == 0 else ["widget", "dashboard"]
            for path in order:
                if path == "dashboard":
                    status, ttft, _ = await first_delta(
                        client,
                        "/api/v1/chat",
                        {"assistant": assistant, "message": QUESTION},
                        dashboard,
                        heads[path],
                    )
                else:
                    status, ttft, _ = await first_delta(
                        client,
                        f"/api/v1/widget/{widget}/chat",
                        {"message": QUESTION},
                        visitor(),
                        heads[path],
                    )
                if status != 200 or ttft is None:
                    raise RuntimeError(f"{path}: HTTP {status}")
                results[path].append(ttft)
    d, w = statistics.median(results["dashboard"]), statistics.median(results["widget"])
    return {
        "rounds": rounds,
        "dashboard_ttft_ms": common.latency_summary(results["dashboard"]),
        "widget_ttft_ms": common.latency_summary(results["widget"]),
        "dashboard_headers_ms": common.latency_summary(heads["dashboard"]),
        "widget_headers_ms": common.latency_summary(heads["widget"]),
        "ratio_median": round(w / d, 3),
        "target": "<= 1.1",
        "passed": w / d <= 1.1,
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
    }


async def visitors(base: str, widget: str, count: int, seconds: float) -> dict:
    host = f"{HOST}:{base.rsplit(':', 1)[1]}"
    outcomes: Counter = Counter()
    statuses: Counter = Counter()
    # Accepted messages per address and rate window. The server checked the limits
    # somewhere between sending and the answer's start, so a message is put in a window
    # only when both fall inside it: one decided at 59.98 s whose headers arrive at
    # 60.03 s belongs to the window before, and counting it by its arrival (as this did
    # until 2026-12-01) made an address that was allowed one message in each of two
    # windows look like two in one. Messages across a boundary are counted apart.
    per_address: Counter = Counter()
    across_boundary = 0
    # (sent, answer started) of every accepted message: the server decided in between.
    accepted_spans: list[tuple[float, float]] = []

    # Seconds from sending a message to its response's headers (the server's decision),
    # per outcome: the queue in front of a busy server shows here first.
    waits: dict[str, list[float]] = {"accepted": [], "429": []}

    async def visit(number: int, client) -> None:
        nonlocal across_boundary
        # Distinct for every number (``% 256 or 1`` until 2026-12-01 gave visitors 256 and
        # 257 one address, the second refused as "per address" on its first message).
        address = f"10.{number // 64_000 % 250}.{number // 250 % 256}.{number % 250 + 1}"
        headers = {"Host": host, "Origin": SITE, "Accept": "*/*", "X-Forwarded-For": address}
        for attempt in range(2):
            sent = time.time()
            try:
                async with client.stream(
                    "POST",
                    f"/api/v1/widget/{widget}/chat",
                    json={"message": QUESTION},
                    headers=headers,
                ) as response:
                    answered = time.time()
                    body = await response.aread()
            except httpx2.HTTPError as exc:
                outcomes[f"transport error {type(exc).__name__}"] += 1
                continue
            statuses[response.status_code] += 1
            if response.status_code in (200, 429):
                waits["accepted" if response.status_code == 200 else "429"].append(answered - sent)
            if response.status_code == 200 and b"event: done" in body:
                outcomes["accepted"] += 1
                if int(sent // 60) == int(answered // 60):
                    per_address[(address, int(answered // 60))] += 1
                else:
                    across_boundary += 1
                accepted_spans.append((sent, answered))
            elif response.status_code == 429:
                reason = (
                    "per address"
                    if b"address" in body
                    else "per widget"
                    if b"busy" in body
                    else "other"
                )
                outcomes[f"429 {reason}"] += 1
            elif response.status_code >= 500:
                outcomes["5xx"] += 1
            else:
                outcomes[f"HTTP {response.status_code}"] += 1
            if attempt == 0:
                await asyncio.sleep(1.0)

    load_before = os.getloadavg()
    started = time.perf_counter()
    # Idle connections are dropped by the client before uvicorn's keep-alive timeout
    # (5 s) closes them: at an equal 5 s (httpx's default) a message could be sent on a
    # connection the server was closing and fail with a ReadError (seen once in 1,000,
    # 2026-12-01), a race of this client's pool that a browser retries on its own.
    limits = httpx2.Limits(max_connections=200, max_keepalive_connections=50, keepalive_expiry=2.0)
    async with httpx2.AsyncClient(
        base_url=base, trust_env=False, timeout=120, limits=limits
    ) as client:
        tasks = []
        for number in range(count):
            delay = started + number * seconds / count - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(visit(number + 1, client)))
        await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    worst_address = max(per_address.values(), default=0)
    return {
        "visitors": count,
        "arrival_seconds": seconds,
        "elapsed_s": round(elapsed, 1),
        # The last visitor arrives at `seconds` and sends its second message 1 s later:
        # a server that keeps up finishes a moment after `seconds` + 1.
        "elapsed_over_arrival": round(elapsed / seconds, 3),
        "served_within_window": elapsed <= seconds + 5,
        "response_start_ms": {
            name: common.latency_summary(values) for name, values in waits.items() if values
        },
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "messages_sent": sum(statuses.values()),
        "outcomes": dict(outcomes),
        "statuses": {str(k): v for k, v in statuses.items()},
        "limit_per_widget_per_window": PER_WIDGET,
        "limit_per_address": 1,
        "most_accepted_for_one_address_in_a_window": worst_address,
        "accepted_across_a_window_boundary": across_boundary,
        # Messages surely admitted in one window (sent and answered inside it), per window.
        "surely_in_one_window": {
            str(k): v
            for k, v in sorted(
                Counter(
                    int(a // 60) for s_, a in accepted_spans if int(s_ // 60) == int(a // 60)
                ).items()
            )
        },
        "passed": outcomes["5xx"] == 0
        and worst_address <= 1
        and not any(k.startswith("transport") for k in outcomes),
    }


def _cpu_seconds(pid: int, *, with_children: bool = False) -> float:
    """A process's CPU time (user + system), and its reaped children's with
    ``with_children`` (PostgreSQL's backends that have exited), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if with_children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def server_pids() -> dict[str, int]:
    """PostgreSQL's postmaster and Redis's process (this run's servers)."""
    import redis
    from django.conf import settings
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW data_directory")
        (data_directory,) = cursor.fetchone()
    postmaster = int(Path(data_directory, "postmaster.pid").read_text().split()[0])
    redis_pid = int(redis.Redis.from_url(settings.REDIS_URL).info("server")["process_id"])
    return {"postgres": postmaster, "redis": redis_pid}


def cpu_snapshot(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each server: uvicorn, Redis, and PostgreSQL (the postmaster,
    its exited backends, and its live ones)."""
    snapshot = {
        name: _cpu_seconds(pid, with_children=name == "postgres") for name, pid in pids.items()
    }
    postmaster = pids.get("postgres")
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == postmaster:  # ppid
                    snapshot["postgres"] += (int(fields[11]) + int(fields[12])) / os.sysconf(
                        "SC_CLK_TCK"
                    )
    return snapshot


def accepted_per_minute(public_id: str) -> Counter:
    """Visitors' messages the platform stored, per rate window (UTC minute), from the
    database: the widget's own count, whatever the client saw."""
    from django.db.models.functions import TruncMinute
    from django_tenants.utils import schema_context

    from chat.models import Message
    from integrations.models import WidgetConfiguration

    widget = WidgetConfiguration.objects.get(public_id=public_id)
    with schema_context(ORG_SLUG):
        rows = (
            Message.objects.filter(session__api_key_id=widget.pk, role="user")
            .annotate(minute=TruncMinute("created_at"))
            .values_list("minute")
        )
        return Counter(int(minute.timestamp() // 60) for (minute,) in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    # A denser arrival (e.g. --seconds 20) finds how many visitors one worker keeps up
    # with; the figure is the default, 500 in 60 s.
    parser.add_argument("--visitors", type=int)
    parser.add_argument("--seconds", type=float)
    # The TTFT phase alone, with more rounds: the paired ratio's spread is ~10 % at 30.
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--ttft-only", action="store_true")
    args = parser.parse_args()
    common.setup_django()
    # One line per request from the client library would be the client's own work.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    rounds, count, seconds = (10, 150, 20.0) if args.quick else (30, 500, 60.0)
    count, seconds = args.visitors or count, args.seconds or seconds
    rounds = args.rounds or rounds
    assistant, ttft_widget, load_widget = prepare()
    logdir = Path(tempfile.gettempdir()) / "bench-widget-logs"
    logdir.mkdir(parents=True, exist_ok=True)
    process, base = start_uvicorn(logdir)
    try:
        ttft = asyncio.run(measure_ttft(base, assistant, ttft_widget, rounds))
        print("TTFT (ms)", ttft["dashboard_ttft_ms"], ttft["widget_ttft_ms"], sep="\n  ")
        print(
            f"widget / dashboard median TTFT: {ttft['ratio_median']} (target <= 1.1): "
            f"{common.verdict(ttft['passed'])}"
        )
        print(
            "to the headers (ms, p50): dashboard "
            f"{ttft['dashboard_headers_ms']['p50_ms']:.1f}, widget "
            f"{ttft['widget_headers_ms']['p50_ms']:.1f}"
        )
        if args.ttft_only:
            common.write_results("widget-ttft", {"time_to_first_token": ttft})
            return
        pids = {**server_pids(), "uvicorn": process.pid}
        cpu_before = cpu_snapshot(pids)
        load = asyncio.run(visitors(base, load_widget, count, seconds))
        cpu_after = cpu_snapshot(pids)
        # What the 1,000 messages cost the servers, whatever share of the machine they
        # got: the figure that does not move with the other sessions' load.
        load["server_cpu_seconds"] = {
            name: round(cpu_after[name] - cpu_before[name], 2) for name in pids
        }
        load["server_cpu_ms_per_message"] = {
            name: round((cpu_after[name] - cpu_before[name]) * 1000 / load["messages_sent"], 2)
            for name in pids
        }
        windows = accepted_per_minute(load_widget)  # the ORM outside the event loop
        load["accepted_per_rate_window"] = {str(k): v for k, v in sorted(windows.items())}
        # Rows are written a moment after the check, so the database's minutes can hold a
        # few messages admitted at the end of the window before: the check is on the
        # messages surely admitted within one window.
        load["passed"] = load["passed"] and (
            max(load["surely_in_one_window"].values(), default=0) <= PER_WIDGET
        )
        print(
            f"{count} visitors over {seconds:.0f} s ({load['messages_sent']} messages):",
            load["outcomes"],
            "accepted per window:",
            load["accepted_per_rate_window"],
            common.verdict(load["passed"]),
        )
        print(
            f"served in {load['elapsed_s']} s ({load['elapsed_over_arrival']}x the arrival "
            f"window); response start (ms): {load['response_start_ms']}; load average "
            f"{load['load_average_before']} -> {load['load_average_after']}; server CPU s: "
            f"{load['server_cpu_seconds']}"
        )
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(10)
    name = "widget" if (count, seconds) in ((500, 60.0), (150, 20.0)) else "widget-dense"
    common.write_results(name, {"quick": args.quick, "time_to_first_token": ttft, "visitors": load})


if __name__ == "__main__":
    main()

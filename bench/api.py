"""Benchmark: what API-key authentication, scope checks and rate limits cost per request.

One uvicorn worker (dev settings, DEBUG off as in production, ``bench/settings_api.py``)
serves two endpoints of the same organization that return the same page of 20
assistants with the same serializer and pagination:

* ``GET /api/v1/assistants`` with ``Authorization: Bearer apk_...``: the key is looked up
  by its prefix and checked with HMAC-SHA256 (no slow password hash), its last use is
  recorded (at most once a minute), the ``assistants:read`` scope is checked, and both
  rate limits (per key and per organization; django-ratelimit counters in Redis) are
  counted. The plan's limits are set far above the load so nothing is refused.
* ``GET /bench/bare``: a bare DRF ``ListAPIView`` with no authentication, permission or
  throttling.

A closed-loop load generator (``CONCURRENCY`` connections, httpx2 async) sends requests
for ``SECONDS`` per round; rounds alternate bare, keyed, bare, keyed... and the figure
is the ratio of the medians (keyed / bare requests per second), so machine noise hits
both sides alike. Target: keyed / bare >= 0.7.

Run: ``.venv/bin/python bench/api.py`` (``--seconds 5 --rounds 3`` for a quick look).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common

PYTHON = sys.executable
SLUG = "benchapi"
TARGET_RATIO = 0.7


def prepare() -> tuple[str, str]:
    """The benchmark organization with 20 assistants, a generous plan and a key."""
    from django_tenants.utils import schema_context

    from assistants.catalog.models import AIModel
    from assistants.models import Assistant
    from audit.services import Actor
    from billing.models import Plan
    from integrations import services as key_services
    from integrations.models import APIKey, Scope
    from users.models import Organization

    organization = common.benchmark_organization(SLUG, "API benchmark")
    plan, _ = Plan.objects.update_or_create(
        code="bench-api",
        defaults={
            "name": "API benchmark",
            "requests_per_minute": 10**9,
            "key_requests_per_minute": 10**9,
        },
    )
    Organization.objects.filter(pk=organization.pk).update(plan=plan.code)
    with schema_context(SLUG):
        model = AIModel.objects.get(provider="local", model_id="extractive")
        for number in range(20 - Assistant.objects.count()):
            Assistant.objects.create(name=f"Assistant {number}", model=model)
        APIKey.objects.filter(organization=organization).delete()
        _, key = key_services.api_key_create(
            organization=organization, name="bench", scopes=[Scope.ASSISTANTS_READ], actor=Actor()
        )
    return f"{SLUG}.localhost", key


def start_server(port: int, logdir: Path) -> subprocess.Popen:
    from django.conf import settings

    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings_api",
        DATABASE_URL=settings.DATABASE_URL,
        REDIS_URL=settings.REDIS_URL,
        DEBUG="false",
        PYTHONUNBUFFERED="1",
    )
    command = common.uvicorn_command(PYTHON, port, access_log=False)
    log = (logdir / "uvicorn.log").open("w")
    return subprocess.Popen(command, cwd=common.ROOT, env=env, stdout=log, stderr=log)


def wait_ready(base: str, host: str) -> None:
    import httpx2

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx2.get(f"{base}/readyz", headers={"Host": host}, timeout=2).status_code == 200:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("uvicorn did not become ready")


async def load(url: str, headers: dict, seconds: float, concurrency: int) -> dict:
    """Closed loop: each connection sends its next request when the previous answers."""
    import httpx2

    latencies: list[float] = []
    errors = 0
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx2.AsyncClient(limits=limits, timeout=30) as client:
        # Warm up (connections, the worker's caches) outside the measured window.
        await asyncio.gather(*(client.get(url, headers=headers) for _ in range(concurrency)))
        stop = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < stop:
                started = time.perf_counter()
                response = await client.get(url, headers=headers)
                if response.status_code != 200:
                    errors += 1
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / elapsed,
        "p50_ms": common.percentile(latencies, 50) * 1000,
        "p95_ms": common.percentile(latencies, 95) * 1000,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of one round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per endpoint")
    parser.add_argument("--concurrency", type=int, default=8, help="connections")
    args = parser.parse_args()

    common.setup_django()
    import logging

    logging.getLogger("httpx2").setLevel(logging.WARNING)  # one line per request otherwise
    host, key = prepare()
    port = common.free_port()
    base = f"http://127.0.0.1:{port}"
    logdir = Path(tempfile.mkdtemp(prefix="bench-api-"))
    server = start_server(port, logdir)
    try:
        wait_ready(base, host)
        cases = {
            "bare": (f"{base}/bench/bare", {"Host": host}),
            "api_key": (
                f"{base}/api/v1/assistants",
                {"Host": host, "Authorization": f"Bearer {key}"},
            ),
        }
        rounds: dict[str, list[dict]] = {name: [] for name in cases}
        for number in range(args.rounds):
            for name, (url, headers) in cases.items():
                result = asyncio.run(load(url, headers, args.seconds, args.concurrency))
                rounds[name].append(result)
                print(
                    f"round {number + 1} {name:8} {result['rps']:8.1f} req/s  "
                    f"p50 {result['p50_ms']:6.2f} ms  p95 {result['p95_ms']:6.2f} ms  "
                    f"errors {result['errors']}",
                    flush=True,
                )
    finally:
        server.terminate()
        server.wait(timeout=30)

    summary = {
        name: {
            "rps_median": statistics.median(r["rps"] for r in results),
            "p50_ms_median": statistics.median(r["p50_ms"] for r in results),
            "p95_ms_median": statistics.median(r["p95_ms"] for r in results),
            "errors": sum(r["errors"] for r in results),
        }
        for name, results in rounds.items()
    }
    ratio = summary["api_key"]["rps_median"] / summary["bare"]["rps_median"]
    overhead_ms = summary["api_key"]["p50_ms_median"] - summary["bare"]["p50_ms_median"]
    passed = ratio >= TARGET_RATIO and summary["api_key"]["errors"] == 0
    common.print_table(
        ["endpoint", "req/s (median)", "p50 ms", "p95 ms", "errors"],
        [
            [
                name,
                f"{s['rps_median']:.1f}",
                f"{s['p50_ms_median']:.2f}",
                f"{s['p95_ms_median']:.2f}",
                s["errors"],
            ]
            for name, s in summary.items()
        ],
    )
    print(
        f"\nkeyed / bare requests per second: {ratio:.2f} (target >= {TARGET_RATIO}) "
        f"{common.verdict(passed)}; added p50 latency {overhead_ms:.2f} ms"
    )
    common.write_results(
        "api",
        {
            "settings": vars(args) | {"workers": 1, "page_size": 20},
            "rounds": rounds,
            "summary": summary,
            "ratio_keyed_over_bare": ratio,
            "added_p50_ms": overhead_ms,
            "target_ratio": TARGET_RATIO,
            "passed": passed,
        },
    )
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""CPU per streamed delta in each provider adapter, against reading the same stream raw.

Run from the repository root: ``python bench/provider_streams.py [--deltas 3000]
[--rounds 5]``. The wire-level fake provider (assistants/tests/providers/fake_server.py)
runs in a child process, so its CPU is not counted, and answers every request with a
stream of ``--deltas`` one-word deltas in the protocol of the route asked (OpenAI chat
completions, Anthropic Messages, Gemini streamGenerateContent). In this process each
adapter's ``astream`` reads a stream to its end; the figure is this process's CPU time
(``time.process_time``) per delta, the median of ``--rounds``. The raw baseline reads the
same OpenAI-format stream with httpx line by line and nothing else: what any relay pays.

What it is for: a worker holding thousands of streams spends its core relaying deltas
(docs/benchmarks.md, issue 21); ADR 0110 measured the OpenAI SDK's per-chunk models at a
fifth of it. Results: bench/results/provider-streams-<UTC stamp>.json and -latest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

KEY = "bench-key"
ADAPTERS = ("openai", "anthropic", "google")


def serve(deltas: int) -> None:
    """Child process: the fake provider, every answer ``deltas`` words long."""
    from assistants.tests.providers.fake_server import FakeProviderServer, Reply

    class LongAnswers(FakeProviderServer):
        def _next_reply(self) -> Reply:
            return Reply(text="word " * deltas, usage=(20, deltas))

    server = LongAnswers(api_key=KEY).start()
    print(server.url, flush=True)
    sys.stdin.read()
    server.stop()


def adapter(name: str, url: str):
    from assistants.providers.base import ProviderConfig
    from assistants.providers.registry import get_provider

    base = url + "/v1" if name == "openai" else url
    config = ProviderConfig(provider=name, api_key=KEY, base_url=base, timeout=60, max_retries=0)
    return get_provider(config)


async def read_adapter(provider) -> int:
    from assistants.providers.base import ChatMessage, ChatRequest, TextDelta

    request = ChatRequest(messages=[ChatMessage("user", "hi")], model="bench-model")
    return sum([isinstance(e, TextDelta) async for e in provider.astream(request)])


async def read_raw(url: str) -> int:
    import httpx2

    body = {"model": "bench-model", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Authorization": f"Bearer {KEY}"}
    lines = 0
    async with (
        httpx2.AsyncClient(trust_env=False, timeout=60) as client,
        client.stream("POST", f"{url}/v1/chat/completions", json=body, headers=headers) as r,
    ):
        async for line in r.aiter_lines():
            lines += line.startswith("data: {")
    return lines


def cpu_per_delta(run, rounds: int) -> dict:
    samples, deltas = [], 0
    for _ in range(rounds + 1):  # the first warms up (imports, connection pools)
        started = time.process_time()
        deltas = asyncio.run(run())
        samples.append((time.process_time() - started) / max(deltas, 1) * 1e6)
    samples = samples[1:]
    return {"us_per_delta": statistics.median(samples), "samples": samples, "deltas": deltas}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deltas", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    import django

    django.setup()  # the adapters read settings (outbound policy); no database is used
    if args.serve:
        serve(args.deltas)
        return 0
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--deltas", str(args.deltas)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=common.ROOT,
    )
    try:
        url = child.stdout.readline().strip()
        load_start = os.getloadavg()
        results = {"raw httpx read": cpu_per_delta(lambda: read_raw(url), args.rounds)}
        for name in ADAPTERS:
            provider = adapter(name, url)
            results[name] = cpu_per_delta(lambda p=provider: read_adapter(p), args.rounds)
    finally:
        child.stdin.close()
        child.wait(timeout=30)
    raw = results["raw httpx read"]["us_per_delta"]
    print(f"\nCPU per delta in this process, median of {args.rounds} streams of {args.deltas}")
    rows = [
        [name, f"{r['us_per_delta']:.1f}", f"{r['us_per_delta'] / raw:.2f}"]
        for name, r in results.items()
    ]
    common.print_table(["reader", "us/delta", "x raw read"], rows)
    common.write_results(
        "provider-streams",
        {
            "method": __doc__,
            "deltas": args.deltas,
            "rounds": args.rounds,
            "results": results,
            "ratio_to_raw": {name: r["us_per_delta"] / raw for name, r in results.items()},
            "load_average_start": load_start,
            "load_average_end": os.getloadavg(),
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

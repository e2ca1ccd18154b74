"""Slack bot: event-to-ack, event-to-first-text over the provider's own TTFT, and a burst
of mentions answered exactly once.

uvicorn (one worker) and a Celery worker (threads) run as processes against the local
Slack fake (integrations/tests/fakes/slack.py: slack-sdk talks to it over HTTP) and the
local AI provider fake (assistants/tests/providers/fake_server.py, OpenAI protocol) whose
every answer starts after ``--ttft`` seconds. ``--mentions`` signed ``app_mention``
events are posted over ``--seconds`` (paced, each in its own channel), and every one is
posted a second time as Slack's retry (``X-Slack-Retry-Num: 1``).

Figures:
- event-to-ack p50/p99 (what Slack waits for; it retries after 3 s), against the same
  server's GET /healthz in the same run (the raw baseline);
- event-to-first-text: from posting the event to the fake Slack receiving the answer's
  first words (chat.startStream), minus the provider's TTFT measured raw in the same
  run (the OpenAI SDK streaming straight from the provider fake): the bot's overhead;
- exactly once: answers per thread (must be 1 for every mention, retries included).

    .venv/bin/python bench/integrations.py [--mentions 100] [--seconds 10] [--ttft 0.3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common

PYTHON = sys.executable
SLUG = "benchbots"
TEAM = "TBENCH"


def setup(slack, provider) -> tuple:
    from django_tenants.utils import schema_context
    from slack_sdk.oauth.installation_store import Installation

    from assistants import services as assistant_services
    from assistants.catalog.models import AIModel
    from assistants.models import Assistant, ProviderCredential
    from integrations.models import Integration, IntegrationRoute
    from integrations.slack.store import installation_store

    organization = common.benchmark_organization(SLUG, "Bench Bots")
    from users.models import User

    admin = User.objects.filter(is_superuser=False).first()
    with schema_context(SLUG):
        ProviderCredential.objects.filter(provider="openai").delete()
        assistant_services.credential_create(
            provider="openai", api_key="test-key", base_url=f"{provider.url}/v1"
        )
        assistant = Assistant.objects.filter(name="Bench Slack").first() or (
            assistant_services.assistant_create(
                user=admin,
                name="Bench Slack",
                model=AIModel.objects.get(provider="openai", model_id="gpt-4o-mini"),
                collections=[],
            )
        )
    # A fresh install each run (routing, encrypted token), its default assistant set.
    IntegrationRoute.objects.filter(provider="slack", key=TEAM).delete()
    Integration.objects.filter(organization=organization, external_id=TEAM).delete()
    ws = slack.workspace(TEAM, bot_token="xoxb-bench")
    integration = installation_store.save_for(
        Installation(
            app_id="A0001",
            team_id=TEAM,
            team_name="Bench",
            bot_token=ws.bot_token,
            bot_id=ws.bot_id,
            bot_user_id=ws.bot_user_id,
            bot_scopes="chat:write",
            user_id="UADMIN",
        ),
        organization=organization,
        user=admin,
    )
    integration.config = {"default_assistant_id": str(assistant.id)}
    integration.save()
    return organization, integration, ws


def start_processes(slack, port: int, logdir: Path) -> list[subprocess.Popen]:
    from django.conf import settings

    from integrations.tests.fakes.slack import SIGNING_SECRET

    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.dev",
        DATABASE_URL=database_url(),
        REDIS_URL=settings.REDIS_URL,
        DEBUG="false",
        PYTHONUNBUFFERED="1",
        SLACK_API_BASE=slack.base_url,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        OUTBOUND_ALLOWED_NETWORKS="127.0.0.0/8",
        LOG_LEVEL="WARNING",
    )
    # The worker runs niced: in production it is another host, and here it shares two
    # cores with the web process whose acknowledgements are being measured.
    worker = ["nice", "-n", "10", PYTHON, "-m", "celery", "-A", "config", "worker", "-P", "threads", "-c", "8",
              "--without-gossip", "--without-mingle", "-l", "WARNING"]  # fmt: skip
    web = common.uvicorn_command(PYTHON, port, access_log=False)
    return [
        subprocess.Popen(
            command,
            cwd=common.ROOT,
            env=env,
            stdout=(logdir / f"{name}.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        for name, command in (("uvicorn", web), ("worker", worker))
    ]


def database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def wait_ready(base: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError("uvicorn did not become ready")


def raw_provider_ttft(provider, samples: int) -> list[float]:
    """The provider's own TTFT: the OpenAI SDK streaming straight from the fake."""
    import openai

    client = openai.OpenAI(api_key="test-key", base_url=f"{provider.url}/v1")
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                times.append(time.perf_counter() - started)
                break
        stream.close()
    return times


def event_request(slack, ws, n: int):
    channel = f"CB{n:05d}"
    event = slack.say(ws, channel=channel, user="UBENCH", text=f"<@{ws.bot_user_id}> question {n}")
    event["type"] = "app_mention"
    body = {
        "team_id": ws.team_id,
        "api_app_id": "A0001",
        "type": "event_callback",
        "event_id": f"EvBench{n:05d}-{time.time_ns()}",
        "event_time": int(time.time()),
        "event": event,
    }
    return event, body


def post(base: str, body: dict, retry: int | None = None) -> float:
    from integrations.tests.fakes.slack import sign

    raw = json.dumps(body).encode()
    headers = {
        "Content-Type": "application/json",
        **{k.removeprefix("HTTP_").replace("_", "-").title(): v for k, v in sign(raw).items()},
    }
    if retry is not None:
        headers["X-Slack-Retry-Num"] = str(retry)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    request = urllib.request.Request(f"{base}/integrations/slack/events", data=raw, method="POST",
                                     headers=headers)  # fmt: skip
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
        assert response.status == 200, response.status
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--ttft", type=float, default=0.3, help="the provider fake's TTFT (s)")
    parser.add_argument("--quick", action="store_true", help="30 mentions in 3 s")
    args = parser.parse_args()
    if args.quick:
        args.mentions, args.seconds = 30, 3.0

    common.setup_django()
    from django.core.management import call_command

    call_command("migrate_schemas", verbosity=0)  # a fresh database: every schema
    from assistants.tests.providers.fake_server import FakeProviderServer, Reply
    from integrations.models import IntegrationEvent
    from integrations.tests.fakes.slack import FakeSlack

    slack = FakeSlack().start()
    provider = FakeProviderServer(api_key=None).start()
    answer = "The answer, in a few words that stream. " * 3
    provider.enqueue(*[Reply(text=answer, delay=args.ttft) for _ in range(args.mentions + 20)])
    _organization, integration, ws = setup(slack, provider)

    port = common.free_port()
    base = f"http://localhost:{port}"
    logdir = Path(tempfile.mkdtemp(prefix="bench-integrations-"))
    print(f"server and worker logs: {logdir}")
    processes = start_processes(slack, port, logdir)
    try:
        wait_ready(base)
        # Warm-up: one mention end to end (imports, connections, the Bolt app).
        event, body = event_request(slack, ws, 99999)
        post(base, body)
        deadline = time.monotonic() + 60
        while event["ts"] not in slack.first_text_at and time.monotonic() < deadline:
            time.sleep(0.05)
        raw_ttft = raw_provider_ttft(provider, 10)
        provider.enqueue(*[Reply(text=answer, delay=args.ttft) for _ in range(args.mentions)])
        # One event at a time: an acknowledgement's own cost, with no queueing.
        sequential = []
        for n in range(10):
            _event, body = event_request(slack, ws, 90000 + n)
            sequential.append(post(base, body))
        healthz = []
        for _ in range(20):
            started = time.perf_counter()
            urllib.request.urlopen(f"{base}/healthz", timeout=5).read()
            healthz.append(time.perf_counter() - started)

        posted_at: dict[str, float] = {}
        delivery_ids: list[str] = []
        acks: list[float] = []
        retry_acks: list[float] = []
        lock = threading.Lock()
        interval = args.seconds / args.mentions

        def one(n: int) -> None:
            time.sleep(n * interval)  # paced: --mentions over --seconds
            event, body = event_request(slack, ws, n)
            sent = time.time()
            ack = post(base, body)
            again = post(base, body, retry=1)  # Slack's retry of the same event
            with lock:
                delivery_ids.append(body["event_id"])
                posted_at[event["ts"]] = sent
                acks.append(ack)
                retry_acks.append(again)

        # The raw baseline under the same load: GET /healthz on the same server, probed
        # every 100 ms while the mentions arrive and are answered.
        during: list[float] = []
        probing = threading.Event()

        def probe() -> None:
            while not probing.is_set():
                began = time.perf_counter()
                urllib.request.urlopen(f"{base}/healthz", timeout=30).read()
                during.append(time.perf_counter() - began)
                time.sleep(0.1)

        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=min(args.mentions, 64)) as pool:
            list(pool.map(one, range(args.mentions)))
        sent_s = time.perf_counter() - started
        probing.set()
        prober.join()
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            done = sum(1 for ts in posted_at if slack.first_text_at.get(ts))
            stopped = sum(
                1 for p in list(slack.posted.values()) if p.thread_ts in posted_at and p.stopped
            )
            if done == len(posted_at) and stopped >= len(posted_at):
                break
            time.sleep(0.2)
        time.sleep(2.0)  # late duplicates, if any, would land now
        drained_s = time.perf_counter() - started
        answers_per_thread = {ts: len(slack.replies_in_thread(ts)) for ts in posted_at}
        first_text = [slack.first_text_at[ts] - posted_at[ts] for ts in posted_at
                      if ts in slack.first_text_at]  # fmt: skip
        stored = IntegrationEvent.objects.filter(
            integration=integration, delivery_id__in=delivery_ids
        ).count()
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        slack.stop()
        provider.stop()

    ttft_p50 = common.percentile(raw_ttft, 50)
    once = sum(1 for count in answers_per_thread.values() if count == 1)
    result = {
        "mentions": args.mentions,
        "over_seconds": args.seconds,
        "posting_took_s": round(sent_s, 2),
        "sequential_ack_p50_ms": round(common.percentile(sequential, 50) * 1000, 1),
        "ack_p50_ms": round(common.percentile(acks, 50) * 1000, 1),
        "ack_p99_ms": round(common.percentile(acks, 99) * 1000, 1),
        "retry_ack_p99_ms": round(common.percentile(retry_acks, 99) * 1000, 1),
        "baseline_healthz_p50_ms": round(common.percentile(healthz, 50) * 1000, 1),
        "baseline_healthz_p99_ms": round(common.percentile(healthz, 99) * 1000, 1),
        "baseline_healthz_during_burst_p50_ms": round(common.percentile(during, 50) * 1000, 1),
        "baseline_healthz_during_burst_p99_ms": round(common.percentile(during, 99) * 1000, 1),
        "ratio_ack_p50_over_healthz_during_burst_p50": round(
            common.percentile(acks, 50) / common.percentile(during, 50), 2
        ),
        "ratio_ack_p99_over_slack_3s_limit": round(common.percentile(acks, 99) / 3.0, 3),
        "provider_raw_ttft_p50_ms": round(ttft_p50 * 1000, 1),
        "event_to_first_text_p50_ms": round(common.percentile(first_text, 50) * 1000, 1)
        if first_text
        else None,
        "event_to_first_text_p99_ms": round(common.percentile(first_text, 99) * 1000, 1)
        if first_text
        else None,
        "overhead_over_provider_ttft_p50_ms": round(
            (common.percentile(first_text, 50) - ttft_p50) * 1000, 1
        )
        if first_text
        else None,
        "answered": len(first_text),
        "answered_exactly_once": once,
        "events_stored": stored,
        "all_answered_after_s": round(drained_s, 2),
    }
    result["pass"] = once == args.mentions == stored and common.percentile(acks, 99) < 3.0
    common.print_table(["figure", "value"], [[k, v] for k, v in result.items()])
    common.write_results("integrations" + ("-quick" if args.quick else ""), result)


if __name__ == "__main__":
    main()

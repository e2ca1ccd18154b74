"""Billing: a month of metered usage to Stripe, and a burst of webhooks.

1. Metering. 1,000 organizations (public-schema rows only: metering never enters
   an organization's schema), each with a Stripe customer and a billing
   subscription at the local Stripe API (billing/tests/stripe_api), and a month of
   synthetic ledger rows (one every 6 hours). ``billing.metering.meter_report``
   reports the month in slices (24 hours here: hourly slices would be 720,000
   HTTP requests for one figure); the local Stripe counts the meter events: exactly
   one per organization and slice with usage, each customer's total equal to its
   ledger, and a second run sends nothing. Baseline: the same number of meter
   events sent straight with the SDK on the same thread pool (no ledger, no
   bookkeeping); the ratio is the service's time over the baseline's.

2. Webhooks. uvicorn (one worker) and a Celery worker (4 threads) as processes;
   100 signed ``customer.subscription.updated`` events posted at once, each on a new
   connection from a thread of its own, by a child process (this process serves the
   local Stripe that the worker calls meanwhile). Figures: the answer latency
   (p50/p99; baseline: 100 concurrent GET /healthz on the same server, same client),
   the same burst handed to the ASGI ingress in this process (no HTTP: the platform's
   own cost), and each event's time from receipt to processed (the worker fetches the
   subscription from Stripe, mirrors it, re-derives the plan).

    .venv/bin/python bench/billing.py [--orgs 1000] [--days 30] [--slice-hours 24] [--quick]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common

PREFIX = "benchbill"
PYTHON = sys.executable


def setup_organizations(count: int):
    from users.models import Organization

    slugs = [f"{PREFIX}{n:04d}" for n in range(count)]
    existing = set(
        Organization.objects.filter(schema_name__in=slugs).values_list("schema_name", flat=True)
    )
    # Rows only, no schemas: bulk_create skips save(), which would create one.
    Organization.objects.bulk_create(
        [
            Organization(schema_name=s, name=f"Billing bench {s}", plan=PREFIX)
            for s in slugs
            if s not in existing
        ],
        batch_size=1000,
    )
    Organization.objects.filter(schema_name__in=slugs).update(plan=PREFIX)
    return list(Organization.objects.filter(schema_name__in=slugs).order_by("schema_name"))


def clean(organizations) -> None:
    from billing.models import MeterReport, StripeCustomer, StripeEvent, Subscription, UsageRecord

    ids = [o.pk for o in organizations]
    UsageRecord.objects.filter(organization_id__in=ids).delete()
    MeterReport.objects.filter(organization_id__in=ids).delete()
    Subscription.objects.filter(organization_id__in=ids).delete()
    StripeCustomer.objects.filter(organization_id__in=ids).delete()
    StripeEvent.objects.filter(id__startswith="evt_").filter(
        payload__data__object__metadata__bench="1"
    ).delete()
    # The organizations are rows without schemas: left behind, they would break every
    # later `migrate_schemas` over all schemas (make dev, the other benchmarks).
    from users.models import Organization

    Organization.objects.filter(pk__in=ids).delete()


def setup_stripe(server, organizations) -> dict[int, str]:
    """A customer and a month-old subscription per organization, mirrored here."""
    from billing.models import Plan, StripeCustomer
    from billing.subscriptions import subscription_store
    from billing.tests.conftest import TEAM_METERED, TEAM_MONTHLY, stripe_prices

    stripe_prices(server)
    # A plan of the benchmark's own that the local Stripe's prices belong to (the dev
    # database's plans keep their real price ids).
    Plan.objects.update_or_create(
        code=PREFIX,
        defaults={
            "name": "Billing bench",
            "stripe_price_monthly": TEAM_MONTHLY,
            "stripe_price_metered": TEAM_METERED,
        },
    )
    customers = {}
    rows = []
    for org in organizations:
        customer = server.customer_seed(name=org.name, metadata={"organization_id": str(org.pk)})
        customers[org.pk] = customer["id"]
        rows.append(StripeCustomer(organization=org, customer_id=customer["id"]))
    StripeCustomer.objects.bulk_create(rows, batch_size=1000)
    subscriptions = {}
    for org in organizations:
        sub = server.subscription_seed(
            customers[org.pk],
            [{"price": TEAM_MONTHLY, "quantity": 1}, {"price": TEAM_METERED}],
            started_days_ago=40,
            metadata={"organization_id": str(org.pk), "bench": "1"},
        )
        subscription_store(obj=sub, organization=org)
        subscriptions[org.pk] = sub["id"]
    return subscriptions


def write_ledger(organizations, days: int, every_hours: int, end: datetime) -> int:
    from billing.models import UsageRecord

    rows = []
    steps = days * 24 // every_hours
    for index, org in enumerate(organizations):
        for step in range(steps):
            rows.append(
                UsageRecord(
                    organization_id=org.pk,
                    kind="chat",
                    provider="openai",
                    model_id="bench",
                    prompt_tokens=100,
                    completion_tokens=20 + (index + step) % 50,
                    total_tokens=120 + (index + step) % 50,
                    input_price_per_million=0,
                    output_price_per_million=0,
                    cost=Decimal("0.0001"),
                    created_at=end - timedelta(hours=every_hours * step + 1),
                )
            )
    UsageRecord.objects.bulk_create(rows, batch_size=5000)
    return len(rows)


def expected_slices(organizations, since, until) -> tuple[int, dict[int, int]]:
    from billing.metering import _ledger_by_slice

    ledger = _ledger_by_slice([o.pk for o in organizations], since, until)
    totals: dict[int, int] = {}
    for (org_id, _), tokens in ledger.items():
        totals[org_id] = totals.get(org_id, 0) + tokens
    return len(ledger), totals


def baseline_send(server, count: int, customer: str, threads: int) -> float:
    """The SDK alone: ``count`` meter events on the same thread pool."""
    from billing.stripe_client import stripe_client

    client = stripe_client()
    stamp = int(time.time()) - 3600

    def send(n: int) -> None:
        ident = f"baseline-{stamp}-{n}"
        client.v1.billing.meter_events.create(
            params={
                "event_name": "ai_tokens",
                "identifier": ident,
                "timestamp": stamp,
                "payload": {"stripe_customer_id": customer, "value": "1"},
            },
            options={"idempotency_key": ident},
        )

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(send, range(count)))
    return time.perf_counter() - started


def bench_metering(server, organizations, args) -> dict:
    from django.conf import settings

    from billing import metering
    from billing.models import MeterReport

    settings.BILLING_METER_SLICE_HOURS = args.slice_hours
    end = metering.slice_floor(datetime.now(UTC))
    rows = write_ledger(organizations, args.days, 6, end)
    since = end - timedelta(days=args.days)
    slices, ledger_totals = expected_slices(organizations, since, end)
    print(f"ledger: {rows:,} rows; {slices:,} (organization, slice) pairs with usage")

    started = time.perf_counter()
    run = metering.meter_report(since=since, until=end)
    service_s = time.perf_counter() - started
    events = server.meter_count()
    identifiers = len(set(server.meter_events))
    wrong_totals = sum(
        1
        for org in organizations
        if server.meter_total(server_customer(org)) != ledger_totals.get(org.pk, 0)
    )
    started = time.perf_counter()
    again = metering.meter_report(since=since, until=end)
    second_s = time.perf_counter() - started

    baseline_s = baseline_send(
        server, events, server_customer(organizations[0]), metering.SEND_THREADS
    )
    result = {
        "organizations": len(organizations),
        "days": args.days,
        "slice_hours": args.slice_hours,
        "ledger_rows": rows,
        "expected_events": slices,
        "events_at_stripe": events,
        "unique_identifiers": identifiers,
        "customers_whose_total_differs_from_ledger": wrong_totals,
        "reports_recorded": MeterReport.objects.filter(organization__in=organizations).count(),
        "sent": run.sent,
        "failed": run.failed,
        "service_seconds": round(service_s, 2),
        "baseline_sdk_seconds": round(baseline_s, 2),
        "ratio_service_over_baseline": round(service_s / baseline_s, 2),
        "second_run_sent": again.sent + again.resent,
        "second_run_seconds": round(second_s, 2),
    }
    result["pass"] = (
        events == slices == identifiers == run.sent
        and wrong_totals == 0
        and result["second_run_sent"] == 0
    )
    return result


_CUSTOMERS: dict[int, str] = {}


def server_customer(org) -> str:
    return _CUSTOMERS[org.pk]


def start_processes(server, port: int, logdir: Path) -> list[subprocess.Popen]:
    from django.conf import settings

    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.dev",
        DATABASE_URL=database_url(),
        REDIS_URL=settings.REDIS_URL,
        DEBUG="false",
        PYTHONUNBUFFERED="1",
        STRIPE_SECRET_KEY=server.api_key,
        STRIPE_WEBHOOK_SECRET=server.webhook_secret,
        STRIPE_API_BASE=server.url,
        LOG_LEVEL="WARNING",
    )
    web = common.uvicorn_command(PYTHON, port, access_log=False)
    worker = [
        PYTHON,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "-P",
        "threads",
        "-c",
        "4",
        "--without-gossip",
        "--without-mingle",
        "-l",
        "WARNING",
    ]
    return [
        subprocess.Popen(
            web,
            cwd=common.ROOT,
            env=env,
            stdout=(logdir / "billing-uvicorn.log").open("w"),
            stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            worker,
            cwd=common.ROOT,
            env=env,
            stdout=(logdir / "billing-worker.log").open("w"),
            stderr=subprocess.STDOUT,
        ),
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


def _burst(specs: list[tuple[str, bytes | None, dict]]) -> list[float]:
    def one(spec):
        url, data, headers = spec
        request = urllib.request.Request(url, data=data, headers=headers)
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            assert response.status == 200, response.status
        return time.perf_counter() - started

    with ThreadPoolExecutor(max_workers=len(specs)) as pool:
        return list(pool.map(one, specs))


def burst(specs: list[tuple[str, bytes | None, dict]]) -> list[float]:
    """All requests at once (one thread and one new connection each, as Stripe's
    deliveries come), from a child process: this process also serves the local Stripe
    that the Celery worker calls while the burst runs, and its threads would otherwise
    share one interpreter lock with the clients."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as child:
        return child.submit(_burst, specs).result()


def ingress_in_process(deliveries: list[tuple[bytes, str]]) -> list[float]:
    """The same burst handed to the ASGI ingress in this process (no HTTP, no uvicorn):
    what the platform's own code costs per delivery when they all arrive at once."""
    import asyncio

    from billing.api.webhook import PATH, StripeWebhookIngress

    async def behind(scope, receive, send):  # Django, never reached here
        raise AssertionError(scope["path"])

    ingress = StripeWebhookIngress(behind)

    async def one(body: bytes, signature: str) -> float:
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        sent = []

        async def receive():
            return messages.pop(0)

        async def send(message):
            sent.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "path": PATH,
            "headers": [(b"host", b"localhost"), (b"stripe-signature", signature.encode())],
        }
        started = time.perf_counter()
        await ingress(scope, receive, send)
        assert sent[0]["status"] == 200, sent
        return time.perf_counter() - started

    async def run() -> list[float]:
        return list(await asyncio.gather(*(one(b, s) for b, s in deliveries)))

    return asyncio.run(run())


def bench_webhooks(server, subscriptions: dict[int, str], count: int) -> dict:
    from billing.models import StripeEvent
    from billing.tests.stripe_api.server import event_signature

    port = common.free_port()
    base = f"http://localhost:{port}"
    logdir = Path(tempfile.mkdtemp(prefix="bench-billing-"))  # the processes' logs
    print(f"server and worker logs: {logdir}")
    processes = start_processes(server, port, logdir)
    try:
        wait_ready(base)
        # warm up: one event end to end, so imports and connections are not measured
        healthz = (f"{base}/healthz", None, {})
        burst([healthz] * 4)
        chosen = list(subscriptions.values())[:count]
        events = []
        for sub_id in chosen:
            server.subscriptions[sub_id]["cancel_at_period_end"] = True
            events.append(
                server.event("customer.subscription.updated", server.subscriptions[sub_id])
            )
        requests = []
        for event in events:
            body = json.dumps(event).encode()
            requests.append(
                (
                    f"{base}/billing/stripe/webhook",
                    body,
                    {
                        "Content-Type": "application/json",
                        "Stripe-Signature": event_signature(body, server.webhook_secret),
                    },
                )
            )
        baseline = burst([healthz] * count)
        started = time.perf_counter()
        answers = burst(requests)
        load_at_burst = os.getloadavg()[0]
        # The same burst (new events of the same subscriptions) through the ingress in
        # this process: the platform's code without HTTP.
        again = []
        for sub_id in chosen:
            event = server.event("customer.subscription.updated", server.subscriptions[sub_id])
            body = json.dumps(event).encode()
            again.append((event["id"], body, event_signature(body, server.webhook_secret)))
        in_process = ingress_in_process([(b, sig) for _, b, sig in again])
        ids = [e["id"] for e in events] + [event_id for event_id, _, _ in again]
        deadline = time.monotonic() + 300
        while StripeEvent.objects.filter(id__in=ids, processed_at__isnull=False).count() < len(ids):
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        drained = time.perf_counter() - started
        rows = list(
            StripeEvent.objects.filter(id__in=ids).values_list("received_at", "processed_at")
        )
        processed = [(p - r).total_seconds() for r, p in rows if p is not None]
        from billing.models import Subscription

        mirrored = Subscription.objects.filter(
            stripe_id__in=chosen, cancel_at_period_end=True
        ).count()
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
    p99 = common.percentile(answers, 99)
    result = {
        "events": count,
        "answer_p50_ms": round(common.percentile(answers, 50) * 1000, 1),
        "answer_p99_ms": round(p99 * 1000, 1),
        "baseline_healthz_p50_ms": round(common.percentile(baseline, 50) * 1000, 1),
        "baseline_healthz_p99_ms": round(common.percentile(baseline, 99) * 1000, 1),
        "ratio_answer_p99_over_healthz_p99": round(p99 / common.percentile(baseline, 99), 2),
        "in_process_ingress_p50_ms": round(common.percentile(in_process, 50) * 1000, 1),
        "in_process_ingress_p99_ms": round(common.percentile(in_process, 99) * 1000, 1),
        "load_average_at_burst": round(load_at_burst, 1),
        "processed": len(processed),
        "receipt_to_processed_p50_ms": round(common.percentile(processed, 50) * 1000, 1)
        if processed
        else None,
        "receipt_to_processed_p99_ms": round(common.percentile(processed, 99) * 1000, 1)
        if processed
        else None,
        "all_processed_after_s": round(drained, 2),
        "subscriptions_mirrored": mirrored,
    }
    result["pass"] = p99 < 1.0 and len(processed) == 2 * count and mirrored == count
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--slice-hours", type=int, default=24)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="100 organizations, 7 days")
    args = parser.parse_args()
    if args.quick:
        args.orgs, args.days = 100, 7

    common.setup_django()
    from django.conf import settings
    from django.core.management import call_command

    from billing.tests.stripe_api.server import FakeStripe

    call_command("migrate_schemas", shared=True, verbosity=0)
    server = FakeStripe().start()
    settings.STRIPE_SECRET_KEY = server.api_key
    settings.STRIPE_WEBHOOK_SECRET = server.webhook_secret
    settings.STRIPE_API_BASE = server.url
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    try:
        organizations = setup_organizations(args.orgs)
        clean(organizations)
        print(f"{len(organizations)} organizations; Stripe customers and subscriptions...")
        subscriptions = setup_stripe(server, organizations)
        from billing.models import StripeCustomer

        _CUSTOMERS.update(
            dict(
                StripeCustomer.objects.filter(organization__in=organizations).values_list(
                    "organization_id", "customer_id"
                )
            )
        )
        metering_result = bench_metering(server, organizations, args)
        common.print_table(["figure", "value"], [[k, v] for k, v in metering_result.items()])
        webhook_result = bench_webhooks(server, subscriptions, args.events)
        common.print_table(["figure", "value"], [[k, v] for k, v in webhook_result.items()])
        common.write_results("billing", {"metering": metering_result, "webhooks": webhook_result})
        clean(organizations)
    finally:
        server.stop()


if __name__ == "__main__":
    main()

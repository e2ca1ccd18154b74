"""Webhooks and meter reporting through real Celery workers, with committed rows.

The workers have their own database connections, so these tests commit their data
(no rolled-back test transaction) and remove it afterwards. The crash test runs a
worker as a separate process and kills it (SIGKILL) while Stripe holds its meter
event request: Stripe has counted the event, the worker never learned it.
"""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from audit.models import AuditAction, AuditEvent
from billing import checkout
from billing.models import MeterReport, Plan, StripeCustomer, StripeEvent, Subscription, UsageRecord
from billing.plans import plan_cache_clear
from billing.subscriptions import subscription_refresh
from billing.tasks import meter_report
from billing.tests.conftest import plans_priced, stripe_prices, stripe_settings, webhook_post
from users.models import Organization

ROOT = Path(__file__).resolve().parents[2]
CRASH_QUEUE = "billing-crash-test"
LEDGER_MODEL = "billing-worker-test"


def _wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def live(organizations, _stripe_server, settings, django_db_blocker):
    """Alpha on the free plan, the Stripe prices set, all committed; undone after."""
    org = organizations["alpha"]
    _stripe_server.reset()
    stripe_prices(_stripe_server)
    stripe_settings(settings, _stripe_server)
    started = timezone.now()
    with django_db_blocker.unblock():
        team_before = Plan.objects.get(code="team")
        plans_priced()
        Organization.objects.filter(pk=org.organization.pk).update(plan="free")
        yield org, _stripe_server
        MeterReport.objects.filter(organization=org.organization).delete()
        Subscription.objects.filter(organization=org.organization).delete()
        StripeCustomer.objects.filter(organization=org.organization).delete()
        StripeEvent.objects.filter(received_at__gte=started).delete()
        UsageRecord.objects.filter(organization=org.organization, model_id=LEDGER_MODEL).delete()
        Organization.objects.filter(pk=org.organization.pk).update(plan="enterprise")
        team_before.save()
        Plan.objects.filter(code="pro").delete()
        with schema_context(org.slug):
            AuditEvent.objects.filter(
                action=AuditAction.PLAN_CHANGED, created_at__gte=started
            ).delete()
    plan_cache_clear()


def test_webhook_events_are_processed_by_the_worker_once(
    live, celery_worker, django_db_blocker, client_for
):
    org, server = live
    with django_db_blocker.unblock():
        admin = client_for(org, "admin")
        response = admin.post("/api/v1/billing/checkout", {"plan": "team"}, format="json")
        assert response.status_code == 201, response.content
        session_id = response.json()["url"].rsplit("/", 1)[1]
        events = server.checkout_complete(session_id)
        public = client_for("localhost")

        # when: Stripe delivers the events (each answered at once, processed by the worker)
        for event in events:
            response = webhook_post(public, event, secret=server.webhook_secret)
            assert response.json() == {"received": True, "duplicate": False}

        # then: the worker applies them and the limits change
        def applied():
            return StripeEvent.objects.filter(
                id__in=[e["id"] for e in events], processed_at__isnull=False
            ).count() == len(events)

        assert _wait_for(applied)
        assert Organization.objects.get(pk=org.organization.pk).plan == "team"
        processed = {
            e.id: e.processed_at
            for e in StripeEvent.objects.filter(id__in=[e["id"] for e in events])
        }

        # and a redelivery of each is stored and applied no more
        for event in events:
            assert webhook_post(public, event, secret=server.webhook_secret).json()["duplicate"]
        sub_id = server.sessions[session_id]["subscription"]
        fetched = server.requests.count(("GET", f"/v1/subscriptions/{sub_id}"))
        time.sleep(1)
        assert server.requests.count(("GET", f"/v1/subscriptions/{sub_id}")) == fetched
        assert {
            e.id: e.processed_at
            for e in StripeEvent.objects.filter(id__in=[e["id"] for e in events])
        } == processed
        with schema_context(org.slug):
            assert AuditEvent.objects.filter(action=AuditAction.PLAN_CHANGED).count() == 1


def _worker_process(server) -> subprocess.Popen:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": (
            f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        ),
        "TEST_CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
        "STRIPE_SECRET_KEY": server.api_key,
        "STRIPE_API_BASE": server.url,
        "STRIPE_MAX_NETWORK_RETRIES": "0",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            CRASH_QUEUE,
            "-P",
            "solo",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_metering_survives_a_worker_killed_mid_request(live, celery_worker, django_db_blocker):
    org, server = live
    with django_db_blocker.unblock():
        # given: a subscription billing usage, and 1,234 tokens in a closed hour
        customer = checkout.customer_ensure(organization=org.organization)
        checkout.checkout_session_create(
            organization=org.organization, user=org.admin, plan_code="team", interval="month"
        )
        session_id = next(iter(server.sessions))
        server.checkout_complete(session_id, started_days_ago=2)
        subscription_refresh(stripe_id=server.sessions[session_id]["subscription"])
        UsageRecord.objects.create(
            organization=org.organization,
            kind="chat",
            provider="openai",
            model_id=LEDGER_MODEL,
            total_tokens=1234,
            input_price_per_million=0,
            output_price_per_million=0,
            cost=Decimal("0.01"),
            created_at=timezone.now() - timedelta(hours=2),
        )

        # when: a worker sends the meter event and dies before Stripe's answer reaches it
        server.meter_gate.clear()
        worker = _worker_process(server)
        try:
            meter_report.apply_async(
                kwargs={"organization_ids": [org.organization.pk]}, queue=CRASH_QUEUE
            )
            assert server.meter_held.wait(120), "the worker never sent the meter event"
            worker.send_signal(signal.SIGKILL)
            worker.wait(30)
        finally:
            if worker.poll() is None:
                worker.kill()
            server.meter_gate.set()
        assert server.meter_count() == 1  # Stripe counted it
        pending = MeterReport.objects.get(organization=org.organization)
        assert pending.sent_at is None  # the worker never recorded it

        # then: the next run (another worker) re-sends that same event, counted once
        result = meter_report.delay(organization_ids=[org.organization.pk]).get(timeout=60)

        assert result == {"sent": 0, "resent": 1, "failed": 0}
        assert server.meter_count() == 1
        assert server.meter_total(customer.customer_id) == 1234
        assert MeterReport.objects.get(pk=pending.pk).sent_at is not None
        # and one more run finds nothing to send
        assert meter_report.delay(organization_ids=[org.organization.pk]).get(timeout=60) == {
            "sent": 0,
            "resent": 0,
            "failed": 0,
        }

"""AI usage from the ledger to Stripe Billing meter events, exactly once.

Usage is cut into slices (``BILLING_METER_SLICE_HOURS``, UTC-aligned). For each
organization with a billing subscription, each run compares what the ledger holds
for every closed slice with what was already reported, and sends the difference
as one meter event whose identifier names the organization, the slice and a
sequence number (0 for the slice's first report; 1, 2... for usage that reached
the ledger later). So the hourly run, the period-end run and the daily
reconciliation are one algorithm with different windows, and running it twice
sends nothing the second time.

Exactly once across crashes: the report row (identifier, value) is committed as
pending *before* the request and marked sent after it; a run finding a pending
row re-sends that same event, with the identifier as Stripe's idempotency key,
so Stripe counts it once whether or not the first attempt reached it.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import stripe
from django.conf import settings
from django.db import connection
from django.db.models import Max, Sum
from django.utils import timezone

from billing.models import MeterReport, StripeCustomer, Subscription, UsageRecord
from billing.stripe_client import stripe_client
from billing.subscriptions import BILLING

logger = logging.getLogger(__name__)

# Stripe accepts meter events with timestamps up to 35 days old.
STRIPE_METER_MAX_AGE = timedelta(days=35)
SEND_THREADS = 8


def slice_seconds() -> int:
    return settings.BILLING_METER_SLICE_HOURS * 3600


def slice_floor(moment: datetime) -> datetime:
    seconds = slice_seconds()
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)


def meter_identifier(organization_id: int, slice_start: datetime, seq: int) -> str:
    return f"ai-{organization_id}-{slice_start:%Y%m%dT%H}-{seq}"


@dataclass
class MeterRun:
    sent: int = 0  # new events accepted by Stripe
    resent: int = 0  # pending events of an interrupted run, sent again
    failed: int = 0
    tokens: int = 0


def _billed_subscriptions(organization_ids=None) -> dict[int, Subscription]:
    """The subscription each reportable organization bills usage on."""
    rows = (
        Subscription.objects.filter(status__in=BILLING)
        .exclude(metered_item_id="")
        .order_by("organization_id", "-stripe_created")
    )
    if organization_ids is not None:
        rows = rows.filter(organization_id__in=organization_ids)
    deleted = set(
        StripeCustomer.objects.exclude(deleted_at=None).values_list("customer_id", flat=True)
    )
    chosen: dict[int, Subscription] = {}
    for row in rows:
        if row.customer_id not in deleted:
            chosen.setdefault(row.organization_id, row)
    return chosen


def _ledger_by_slice(org_ids: list[int], since: datetime, until: datetime) -> dict:
    """{(organization id, slice start): tokens} for the closed slices of the window."""
    seconds = slice_seconds()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT organization_id,
                   to_timestamp(floor(extract(epoch FROM created_at) / %s) * %s) AS slice,
                   SUM(total_tokens)
            FROM public.billing_usagerecord
            WHERE organization_id = ANY(%s) AND created_at >= %s AND created_at < %s
            GROUP BY 1, 2
            """,
            [seconds, seconds, org_ids, since, until],
        )
        return {(org, slice_.astimezone(UTC)): int(tokens or 0) for org, slice_, tokens in cursor}


def _send(report: MeterReport) -> bool:
    try:
        stripe_client().v1.billing.meter_events.create(
            params={
                "event_name": settings.STRIPE_METER_EVENT_NAME,
                "identifier": report.identifier,
                "timestamp": int(report.slice_start.timestamp()),
                "payload": {"stripe_customer_id": report.customer_id, "value": str(report.value)},
            },
            options={"idempotency_key": report.identifier},
        )
    except stripe.InvalidRequestError as error:
        # Stripe keeps identifiers unique for at least a day: a re-send after the
        # idempotency key expired is refused as a duplicate, which means "counted".
        if getattr(error, "code", None) == "resource_already_exists":
            return True
        logger.warning("meter event %s refused: %s", report.identifier, error)
        return False
    except stripe.StripeError as error:
        logger.warning("meter event %s not sent: %s", report.identifier, error)
        return False
    return True


def _send_all(reports: list[MeterReport], run: MeterRun, *, resend: bool) -> None:
    if not reports:
        return
    with ThreadPoolExecutor(max_workers=min(SEND_THREADS, len(reports))) as pool:
        outcomes = list(pool.map(_send, reports))
    done = [r.pk for r, ok in zip(reports, outcomes, strict=True) if ok]
    for start in range(0, len(done), 1000):
        MeterReport.objects.filter(pk__in=done[start : start + 1000]).update(sent_at=timezone.now())
    ok = len(done)
    run.failed += len(reports) - ok
    if resend:
        run.resent += ok
    else:
        run.sent += ok
        run.tokens += sum(r.value for r, good in zip(reports, outcomes, strict=True) if good)


def meter_report(
    *, since: datetime | None = None, until: datetime | None = None, organization_ids=None
) -> MeterRun:
    """Report every closed slice of the window whose ledger exceeds what was sent.

    Defaults: the last ``BILLING_METER_LOOKBACK_HOURS`` up to the last closed slice.
    """
    now = timezone.now()
    until = slice_floor(until or now)
    since = max(
        slice_floor(since or until - timedelta(hours=settings.BILLING_METER_LOOKBACK_HOURS)),
        slice_floor(now - STRIPE_METER_MAX_AGE + timedelta(hours=1)),
    )
    run = MeterRun()
    subscriptions = _billed_subscriptions(organization_ids)
    if not subscriptions or since >= until:
        return run
    org_ids = list(subscriptions)
    # 1. Events an interrupted run committed but may not have delivered.
    pending = list(
        MeterReport.objects.filter(organization_id__in=org_ids, sent_at=None).order_by("pk")
    )
    _send_all(pending, run, resend=True)
    # 2. The difference between the ledger and what was reported, per slice.
    ledger = _ledger_by_slice(org_ids, since, until)
    reported = {
        (row["organization_id"], row["slice_start"]): (row["total"], row["last"])
        for row in MeterReport.objects.filter(
            organization_id__in=org_ids, slice_start__gte=since, slice_start__lt=until
        )
        .values("organization_id", "slice_start")
        .annotate(total=Sum("value"), last=Max("seq"))
    }
    new = []
    for (org_id, slice_start), tokens in sorted(ledger.items()):
        subscription = subscriptions[org_id]
        begins = subscription.stripe_created or subscription.current_period_start
        if begins is not None and slice_start < slice_floor(begins):
            continue  # usage from before the subscription is not billed
        total, last = reported.get((org_id, slice_start), (0, -1))
        if tokens > total:
            seq = last + 1
            new.append(
                MeterReport(
                    organization_id=org_id,
                    customer_id=subscription.customer_id,
                    slice_start=slice_start,
                    seq=seq,
                    identifier=meter_identifier(org_id, slice_start, seq),
                    value=tokens - total,
                )
            )
        elif tokens < total:
            logger.error("meter %s %s: reported %s > ledger %s", org_id, slice_start, total, tokens)
    # Committed before any request (autocommit): the crash-safe record of intent.
    created = MeterReport.objects.bulk_create(new, batch_size=1000)
    _send_all(created, run, resend=False)
    return run


def reconcile_since() -> datetime:
    return timezone.now() - STRIPE_METER_MAX_AGE


def meter_reconcile(organization_ids=None) -> MeterRun:
    """The whole window Stripe still accepts (35 days): late usage, failed sends."""
    return meter_report(since=reconcile_since(), organization_ids=organization_ids)


# -- the running bill ---------------------------------------------------------------


@dataclass(frozen=True)
class RunningBill:
    period_start: datetime
    period_end: datetime
    tokens: int
    included_tokens: int | None
    overage_tokens: int
    flat_cents: int
    overage_cents: Decimal
    reported_tokens: int
    currency: str

    @property
    def total_cents(self) -> Decimal:
        return Decimal(self.flat_cents) + self.overage_cents


def running_bill(*, organization, subscription: Subscription) -> RunningBill:
    """What the current period will cost so far: the flat price plus AI tokens beyond
    the plan's included amount at its overage rate (Stripe's invoice is the truth)."""
    from billing.quotas import month_start, next_month_start

    plan = subscription.plan
    start = subscription.current_period_start or month_start()
    end = subscription.current_period_end or next_month_start()
    tokens = (
        UsageRecord.objects.filter(
            organization=organization, created_at__gte=start, created_at__lt=end
        ).aggregate(tokens=Sum("total_tokens"))["tokens"]
        or 0
    )
    reported = (
        MeterReport.objects.filter(
            organization=organization,
            slice_start__gte=slice_floor(start),
            slice_start__lt=end,
        )
        .exclude(sent_at=None)
        .aggregate(total=Sum("value"))["total"]
        or 0
    )
    included = plan.included_ai_tokens if plan else None
    overage = max(tokens - (included or 0), 0)
    rate = (plan.overage_cents_per_million_tokens if plan else None) or Decimal(0)
    return RunningBill(
        period_start=start,
        period_end=end,
        tokens=tokens,
        included_tokens=included,
        overage_tokens=overage,
        flat_cents=(plan.price_cents(subscription.interval) if plan else None) or 0,
        overage_cents=(Decimal(overage) * rate / Decimal(1_000_000)).quantize(Decimal("0.01")),
        reported_tokens=reported,
        currency=plan.currency if plan else "usd",
    )

"""Stripe billing (docs/billing.md). Without STRIPE_SECRET_KEY the platform runs
with plans set by hand in the platform admin and no checkout."""

import environ
from celery.schedules import crontab

from config.settings.celery import CELERY_BEAT_SCHEDULE

env = environ.Env()

STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="")
# Stripe's API address; tests and benchmarks point it at the local Stripe server.
STRIPE_API_BASE = env("STRIPE_API_BASE", default="https://api.stripe.com")
# Seconds a webhook's signed timestamp may be old (Stripe's default tolerance).
STRIPE_WEBHOOK_TOLERANCE = env.int("STRIPE_WEBHOOK_TOLERANCE", default=300)
STRIPE_MAX_NETWORK_RETRIES = env.int("STRIPE_MAX_NETWORK_RETRIES", default=2)
# The event name of the Billing meter that the metered prices use.
STRIPE_METER_EVENT_NAME = env("STRIPE_METER_EVENT_NAME", default="ai_tokens")
# Usage is reported in slices of this many hours, one meter event per organization
# and slice (its identifier makes a re-send harmless).
BILLING_METER_SLICE_HOURS = env.int("BILLING_METER_SLICE_HOURS", default=1)
# How far back each hourly run looks for unreported or late usage (Stripe accepts
# meter events up to 35 days old).
BILLING_METER_LOOKBACK_HOURS = env.int("BILLING_METER_LOOKBACK_HOURS", default=72)
# Days a past_due subscription keeps its plan before the free plan's limits apply.
BILLING_GRACE_DAYS = env.int("BILLING_GRACE_DAYS", default=7)
# The plan of organizations without a paying subscription (and after grace).
BILLING_FREE_PLAN = env("BILLING_FREE_PLAN", default="free")

CELERY_BEAT_SCHEDULE.update(
    {
        "billing-meter-report": {
            "task": "billing.meter_report",
            "schedule": crontab(minute=5),  # hourly, once the last hour's calls landed
        },
        # Period ends fall on any hour; the daily run reconciles the last 35 days.
        "billing-meter-reconcile": {
            "task": "billing.meter_reconcile",
            "schedule": crontab(minute=35, hour=2),
        },
        "billing-dunning-sweep": {
            "task": "billing.dunning_sweep",
            "schedule": crontab(minute=15),
        },
        # Webhook events stored but not processed within a minute are queued again.
        "billing-stripe-events-requeue": {
            "task": "billing.stripe_events_requeue",
            "schedule": 60.0,
        },
    }
)

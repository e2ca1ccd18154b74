"""Re-read every organization's subscriptions from Stripe, put each organization on
the plan they give it, and reconcile the usage reported to Stripe's meters.

For a missed webhook, a restored backup, or after changing plans' Stripe prices.
"""

from django.core.management.base import BaseCommand, CommandError

from billing import metering
from billing.models import StripeCustomer
from billing.stripe_client import stripe_configured
from billing.subscriptions import (
    customer_subscriptions_sync,
    dunning_sweep,
    organization_plan_refresh,
)


class Command(BaseCommand):
    help = "Resync subscriptions from Stripe, apply plans, reconcile meter usage."

    def add_arguments(self, parser):
        parser.add_argument("--organization", help="Only this organization (its slug).")
        parser.add_argument(
            "--no-usage", action="store_true", help="Do not reconcile metered usage."
        )

    def handle(self, *args, organization=None, no_usage=False, **options):
        if not stripe_configured():
            raise CommandError("STRIPE_SECRET_KEY is not set.")
        customers = StripeCustomer.objects.select_related("organization").filter(deleted_at=None)
        if organization:
            customers = customers.filter(organization__schema_name=organization)
            if not customers.exists():
                raise CommandError(f"No Stripe customer for organization {organization!r}.")
        for customer in customers:
            rows = customer_subscriptions_sync(customer=customer)
            org = organization_plan_refresh(
                organization=customer.organization, reason="stripe_sync"
            )
            states = ", ".join(f"{r.stripe_id} {r.status}" for r in rows) or "no subscription"
            self.stdout.write(f"{org.slug}: plan {org.plan} ({states})")
        dunning_sweep()
        if not no_usage:
            ids = [c.organization_id for c in customers]
            run = metering.meter_reconcile(organization_ids=ids)
            self.stdout.write(
                f"usage: {run.sent} meter events sent, {run.resent} re-sent, {run.failed} failed"
            )

"""The subscription mirror and the plan it gives the organization.

Stripe is the source of truth. Every change (webhook, ``manage.py stripe_sync``)
fetches the subscription's *current* state from Stripe and writes it here, so
events that arrive late, twice or out of order all converge on the same row.
The organization's effective plan (``Organization.plan``, which quotas and rate
limits read) is then derived from the mirror:

    active, trialing                      the subscribed plan
    past_due, within BILLING_GRACE_DAYS   the subscribed plan (banner to admins)
    past_due after grace, unpaid,
    canceled, incomplete_expired          the free plan's limits (data kept)

An organization that never subscribed keeps the plan set in the platform admin.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import stripe
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_tenants.utils import schema_context

from audit.models import AuditAction
from audit.services import SYSTEM, Actor, audit_record
from billing.models import Plan, StripeCustomer, Subscription, SubscriptionStatus
from billing.stripe_client import stripe_client
from users.models import Organization

logger = logging.getLogger(__name__)

LIVE = (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING)
# Statuses in which the subscription still bills (and is reported usage).
BILLING = (*LIVE, SubscriptionStatus.PAST_DUE)


def _ts(value) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if value else None


def _items(obj) -> list:
    items = obj.get("items") or {}
    return list(items.get("data") or [])


def _usage_type(item) -> str:
    price = item.get("price") or {}
    return (price.get("recurring") or {}).get("usage_type") or "licensed"


def plan_for_price(price_id: str) -> Plan | None:
    if not price_id:
        return None
    return Plan.objects.filter(
        Q(stripe_price_monthly=price_id) | Q(stripe_price_annual=price_id)
    ).first()


def organization_for_customer(customer_id: str, metadata: dict | None = None):
    """The organization a Stripe customer belongs to (our customer row, else the
    organization id we put in the object's metadata)."""
    customer = (
        StripeCustomer.objects.select_related("organization")
        .filter(customer_id=customer_id)
        .first()
    )
    if customer is not None:
        return customer.organization
    org_id = (metadata or {}).get("organization_id")
    if org_id and str(org_id).isdigit():
        return Organization.objects.filter(pk=int(org_id)).first()
    return None


# -- the mirror -----------------------------------------------------------------


def subscription_store(*, obj, organization=None) -> Subscription | None:
    """Write Stripe's subscription object (its current state) into the mirror."""
    customer_id = obj["customer"] if isinstance(obj["customer"], str) else obj["customer"]["id"]
    organization = organization or organization_for_customer(customer_id, obj.get("metadata"))
    if organization is None:
        logger.warning("stripe subscription %s: no organization for %s", obj["id"], customer_id)
        return None
    items = _items(obj)
    flat = next((i for i in items if _usage_type(i) == "licensed"), None)
    metered = next((i for i in items if _usage_type(i) == "metered"), None)
    price = (flat or {}).get("price") or {}
    # Since API version 2025-03-31 the period lives on the items.
    period_source = flat or (items[0] if items else obj)
    period_start = period_source.get("current_period_start") or obj.get("current_period_start")
    period_end = period_source.get("current_period_end") or obj.get("current_period_end")
    status = obj["status"]
    with transaction.atomic():
        # Two events of one new subscription may be processed at once: create the
        # row (or find it), then lock it, so the second waits for the first.
        row, _ = Subscription.objects.get_or_create(
            stripe_id=obj["id"],
            defaults={"organization": organization, "customer_id": customer_id, "status": status},
        )
        row = Subscription.objects.select_for_update().get(pk=row.pk)
        if status == SubscriptionStatus.PAST_DUE:
            row.past_due_since = row.past_due_since or timezone.now()
        else:
            row.past_due_since = None
        row.organization = organization
        row.customer_id = customer_id
        row.status = status
        row.price_id = price.get("id", "")
        row.plan = plan_for_price(row.price_id)
        row.interval = (price.get("recurring") or {}).get("interval", "")
        row.metered_item_id = (metered or {}).get("id", "")
        row.current_period_start = _ts(period_start)
        row.current_period_end = _ts(period_end)
        row.cancel_at_period_end = bool(obj.get("cancel_at_period_end"))
        row.trial_end = _ts(obj.get("trial_end"))
        row.canceled_at = _ts(obj.get("canceled_at"))
        row.stripe_created = _ts(obj.get("created"))
        row.synced_at = timezone.now()
        row.save()
    return row


def subscription_refresh(*, stripe_id: str, organization=None) -> Subscription | None:
    """Fetch the subscription from Stripe and mirror it. One Stripe no longer has
    is recorded as canceled."""
    try:
        obj = stripe_client().v1.subscriptions.retrieve(stripe_id).to_dict()
    except stripe.InvalidRequestError as error:
        if error.http_status != 404:
            raise
        row = Subscription.objects.filter(stripe_id=stripe_id).first()
        if row is not None and row.status != SubscriptionStatus.CANCELED:
            row.status = SubscriptionStatus.CANCELED
            row.canceled_at = row.canceled_at or timezone.now()
            row.past_due_since = None
            row.save(update_fields=["status", "canceled_at", "past_due_since", "synced_at"])
        return row
    return subscription_store(obj=obj, organization=organization)


def customer_subscriptions_sync(*, customer: StripeCustomer) -> list[Subscription]:
    """Every subscription of one customer, as Stripe has them now (``stripe_sync``)."""
    rows = []
    page = stripe_client().v1.subscriptions.list(
        params={"customer": customer.customer_id, "status": "all", "limit": 100}
    )
    for obj in page.auto_paging_iter():
        row = subscription_store(obj=obj.to_dict(), organization=customer.organization)
        if row is not None:
            rows.append(row)
    # Rows Stripe no longer lists (deleted customer): refresh each one by id.
    listed = {row.stripe_id for row in rows}
    for row in Subscription.objects.filter(organization=customer.organization).exclude(
        stripe_id__in=listed
    ):
        subscription_refresh(stripe_id=row.stripe_id, organization=customer.organization)
    return rows


# -- the effective plan -------------------------------------------------------------


def current_subscription(organization) -> Subscription | None:
    """The subscription that decides the plan: a billing one if any (newest first),
    else the newest one of any status."""
    rows = list(Subscription.objects.filter(organization=organization).select_related("plan"))
    billing = [r for r in rows if r.status in BILLING]
    return (billing or rows or [None])[0]


def grace_ends_at(subscription: Subscription) -> datetime | None:
    if subscription.status != SubscriptionStatus.PAST_DUE or subscription.past_due_since is None:
        return None
    return subscription.past_due_since + timedelta(days=settings.BILLING_GRACE_DAYS)


def effective_plan_code(organization, *, now: datetime | None = None) -> str | None:
    """The plan code billing gives the organization; None: billing has no say (it
    never subscribed), the platform admin's choice stands."""
    now = now or timezone.now()
    subscription = current_subscription(organization)
    if subscription is None:
        return None
    if subscription.plan is not None:
        if subscription.status in LIVE:
            return subscription.plan.code
        grace_end = grace_ends_at(subscription)
        if grace_end is not None and now < grace_end:
            return subscription.plan.code
    return settings.BILLING_FREE_PLAN


def organization_plan_refresh(
    *, organization, actor: Actor | None = None, reason: str = "", now: datetime | None = None
):
    """Put the organization on the plan its subscription gives it; audit a change."""
    with transaction.atomic():
        # Locked first: concurrent refreshes decide one after the other (one audit entry).
        organization = Organization.objects.select_for_update().get(pk=organization.pk)
        code = effective_plan_code(organization, now=now)
        if code is None or organization.plan == code:
            return organization
        before = organization.plan
        organization.plan = code
        organization.save(update_fields=["plan"])
        with schema_context(organization.schema_name):
            audit_record(
                actor=actor or SYSTEM,
                action=AuditAction.PLAN_CHANGED,
                target=organization,
                target_type="organization",
                changes={"plan": [before, code], **({"reason": reason} if reason else {})},
            )
    logger.info("organization %s: plan %s -> %s (%s)", organization.slug, before, code, reason)
    return organization


def dunning_sweep(*, now: datetime | None = None) -> int:
    """Organizations whose grace ran out get the free plan (hourly by beat)."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.BILLING_GRACE_DAYS)
    candidates = (
        Organization.objects.filter(
            subscriptions__status=SubscriptionStatus.PAST_DUE,
            subscriptions__past_due_since__lte=cutoff,
        )
        .exclude(plan=settings.BILLING_FREE_PLAN)
        .distinct()
    )
    changed = 0
    for organization in candidates:
        if organization_plan_refresh(
            organization=organization, reason="grace period ended", now=now
        ).plan == (settings.BILLING_FREE_PLAN):
            changed += 1
    return changed


# -- what the Billing page says --------------------------------------------------------


@dataclass(frozen=True)
class BillingState:
    """``ok``, ``grace`` (past due, still served), ``downgraded`` (free limits after
    a failed payment or cancellation), ``canceling`` (ends at period end), or
    ``none`` (never subscribed)."""

    state: str
    grace_ends_at: datetime | None = None


def billing_state(organization, subscription: Subscription | None) -> BillingState:
    if subscription is None:
        return BillingState("none")
    if subscription.status == SubscriptionStatus.PAST_DUE:
        end = grace_ends_at(subscription)
        if end is not None and timezone.now() < end:
            return BillingState("grace", end)
        return BillingState("downgraded")
    if subscription.status in LIVE:
        return BillingState("canceling" if subscription.cancel_at_period_end else "ok")
    if subscription.status == SubscriptionStatus.INCOMPLETE:
        return BillingState("none")
    return BillingState("downgraded")

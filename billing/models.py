"""Billing (public schema): plans with their limits and Stripe prices, the usage
ledger that every AI call writes, and the Stripe mirror (customers, subscriptions,
received events, meter reports). See docs/billing.md and the billing ADR.
"""

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone


class UsageKind(models.TextChoices):
    CHAT = "chat", "Chat"
    EMBEDDING = "embedding", "Embedding"
    RERANK = "rerank", "Rerank"


class Channel(models.TextChoices):
    WEB = "web", "Web"
    WIDGET = "widget", "Widget"
    API = "api", "API"
    SLACK = "slack", "Slack"
    TEAMS = "teams", "Teams"
    EXTENSION = "extension", "Browser extension"
    GMAIL = "gmail", "Gmail"  # a reply drafted for a member's Gmail thread
    WORKFLOW = "workflow", "Workflow"
    INGESTION = "ingestion", "Ingestion"
    SYSTEM = "system", "System"


class Plan(models.Model):
    """What an organization may use: rate limits and monthly quotas.

    ``Organization.plan`` holds the plan's code. An empty limit means unlimited.
    """

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=80)
    # Rate limits (per minute).
    requests_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="API requests per minute for the whole organization."
    )
    key_requests_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="API requests per minute for one API key."
    )
    tokens_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="AI tokens per minute for the whole organization."
    )
    key_tokens_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="AI tokens per minute for one API key."
    )
    # Monthly quotas (calendar month, UTC).
    monthly_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    monthly_cost = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    monthly_messages = models.PositiveIntegerField(null=True, blank=True)
    max_documents = models.PositiveIntegerField(null=True, blank=True)
    max_storage_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    # Stripe: the flat prices (one per interval) and the metered price of AI tokens
    # beyond the included amount. A plan without a flat price cannot be bought.
    stripe_price_monthly = models.CharField(max_length=120, blank=True)
    stripe_price_annual = models.CharField(max_length=120, blank=True)
    stripe_price_metered = models.CharField(
        max_length=120, blank=True, help_text="Metered price (usage_type=metered) for AI tokens."
    )
    # Shown on the Billing page and used for the running bill; Stripe's prices are
    # what invoices charge, so keep these equal to them.
    currency = models.CharField(max_length=3, default="usd")
    price_monthly_cents = models.PositiveIntegerField(null=True, blank=True)
    price_annual_cents = models.PositiveIntegerField(null=True, blank=True)
    included_ai_tokens = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="AI tokens per period included in the flat price."
    )
    overage_cents_per_million_tokens = models.DecimalField(
        max_digits=12, decimal_places=4, null=True, blank=True
    )

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name

    def stripe_price(self, interval: str) -> str:
        return self.stripe_price_annual if interval == "year" else self.stripe_price_monthly

    def price_cents(self, interval: str) -> int | None:
        return self.price_annual_cents if interval == "year" else self.price_monthly_cents

    @property
    def purchasable(self) -> bool:
        return bool(self.stripe_price_monthly or self.stripe_price_annual)


class UsageRecord(models.Model):
    """One provider call: its tokens, the unit prices charged and the cost.

    Unit prices are copied from the catalog at call time, so a later price change
    never alters what past usage cost.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "users.Organization", on_delete=models.CASCADE, related_name="usage_records"
    )
    # Assistants live in the organization's schema: referenced by id, not by FK.
    assistant_id = models.UUIDField(null=True, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key = models.ForeignKey(
        "integrations.APIKey",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="usage_records",
    )
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.WEB)
    kind = models.CharField(max_length=16, choices=UsageKind.choices)
    provider = models.CharField(max_length=32)
    model_id = models.CharField(max_length=120)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    # True when the provider reported no usage and we counted the tokens ourselves.
    tokens_estimated = models.BooleanField(default=False)
    input_price_per_million = models.DecimalField(max_digits=12, decimal_places=6)
    output_price_per_million = models.DecimalField(max_digits=12, decimal_places=6)
    currency = models.CharField(max_length=3, default="USD")
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organization", "created_at"])]

    def __str__(self) -> str:
        return f"{self.organization_id} {self.kind} {self.provider}/{self.model_id} {self.cost}"


# -- Stripe mirror ----------------------------------------------------------------


class StripeCustomer(models.Model):
    """The organization's customer at Stripe (created at its first checkout)."""

    organization = models.OneToOneField(
        "users.Organization", on_delete=models.CASCADE, related_name="stripe_customer"
    )
    customer_id = models.CharField(max_length=120, unique=True)
    # Set by customer.deleted: the customer is gone at Stripe; a new checkout makes a new one.
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.customer_id


class SubscriptionStatus(models.TextChoices):
    """Stripe's subscription statuses, as they are."""

    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    UNPAID = "unpaid"
    PAUSED = "paused"


class Subscription(models.Model):
    """Stripe's subscription as last fetched from Stripe (never from the browser).

    Rows are written only by ``billing.stripe_sync.subscription_sync``, from the
    object's current state at Stripe, so events arriving in any order converge.
    """

    organization = models.ForeignKey(
        "users.Organization", on_delete=models.CASCADE, related_name="subscriptions"
    )
    stripe_id = models.CharField(max_length=120, unique=True)
    customer_id = models.CharField(max_length=120)
    status = models.CharField(max_length=24, choices=SubscriptionStatus.choices)
    # The plan its flat price belongs to (null: a price no plan names).
    plan = models.ForeignKey(Plan, null=True, blank=True, on_delete=models.SET_NULL)
    price_id = models.CharField(max_length=120, blank=True)
    interval = models.CharField(max_length=8, blank=True)  # month | year
    metered_item_id = models.CharField(max_length=120, blank=True)
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    trial_end = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)
    # When we first saw it past_due (the grace period runs from here); cleared when paid.
    past_due_since = models.DateTimeField(null=True, blank=True)
    stripe_created = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-stripe_created", "-id"]
        indexes = [models.Index(fields=["organization", "status"])]

    def __str__(self) -> str:
        return f"{self.stripe_id} ({self.status})"


class StripeEvent(models.Model):
    """A webhook event as received, stored by Stripe's id: a second delivery of the
    same id finds the row and does nothing."""

    id = models.CharField(max_length=120, primary_key=True)
    type = models.CharField(max_length=80)
    object_id = models.CharField(max_length=120, blank=True)
    livemode = models.BooleanField(default=False)
    stripe_created = models.DateTimeField()
    payload = models.JSONField()
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.id} {self.type}"


class MeterReport(models.Model):
    """One meter event sent (or about to be sent) to Stripe: a slice of an
    organization's AI tokens. ``seq`` 0 is the slice's first report; later ones
    carry usage that reached the ledger after it (reconciliation).

    The row is committed as ``pending`` before the request, so a worker that dies
    mid-request leaves the exact event (identifier and value) to re-send.
    """

    organization = models.ForeignKey(
        "users.Organization", on_delete=models.CASCADE, related_name="meter_reports"
    )
    customer_id = models.CharField(max_length=120)
    slice_start = models.DateTimeField()
    seq = models.PositiveSmallIntegerField(default=0)
    identifier = models.CharField(max_length=100, unique=True)
    value = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["slice_start", "seq"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "slice_start", "seq"], name="meter_report_slice_seq"
            )
        ]
        indexes = [models.Index(fields=["organization", "slice_start"])]

    def __str__(self) -> str:
        return self.identifier

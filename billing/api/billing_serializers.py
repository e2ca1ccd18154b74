from rest_framework import serializers

from billing.checkout import INTERVALS


class PlanChoiceSerializer(serializers.Serializer):
    """Input of checkout and plan change."""

    plan = serializers.SlugField(max_length=32)
    interval = serializers.ChoiceField(choices=INTERVALS, default="month")


class URLSerializer(serializers.Serializer):
    url = serializers.URLField()


class PlanOfferSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    currency = serializers.CharField()
    price_monthly_cents = serializers.IntegerField(allow_null=True)
    price_annual_cents = serializers.IntegerField(allow_null=True)
    included_ai_tokens = serializers.IntegerField(allow_null=True)
    overage_cents_per_million_tokens = serializers.DecimalField(
        max_digits=12, decimal_places=4, allow_null=True, coerce_to_string=False
    )
    monthly_tokens = serializers.IntegerField(allow_null=True)
    monthly_messages = serializers.IntegerField(allow_null=True)
    max_documents = serializers.IntegerField(allow_null=True)
    purchasable = serializers.BooleanField()


class CurrentPlanSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class SubscriptionSerializer(serializers.Serializer):
    status = serializers.CharField()
    plan = serializers.CharField(source="plan.code", allow_null=True, default=None)
    interval = serializers.CharField()
    current_period_start = serializers.DateTimeField(allow_null=True)
    current_period_end = serializers.DateTimeField(allow_null=True)
    cancel_at_period_end = serializers.BooleanField()
    trial_end = serializers.DateTimeField(allow_null=True)


class RunningBillSerializer(serializers.Serializer):
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    currency = serializers.CharField()
    tokens = serializers.IntegerField()
    included_tokens = serializers.IntegerField(allow_null=True)
    overage_tokens = serializers.IntegerField()
    reported_tokens = serializers.IntegerField(help_text="Tokens Stripe has been sent so far.")
    flat_cents = serializers.IntegerField()
    overage_cents = serializers.DecimalField(
        max_digits=14, decimal_places=2, coerce_to_string=False
    )
    total_cents = serializers.DecimalField(max_digits=14, decimal_places=2, coerce_to_string=False)


class BillingAccountSerializer(serializers.Serializer):
    plan = CurrentPlanSerializer()
    state = serializers.ChoiceField(choices=["none", "ok", "grace", "canceling", "downgraded"])
    grace_ends_at = serializers.DateTimeField(allow_null=True)
    has_billing_account = serializers.BooleanField()
    billing_enabled = serializers.BooleanField(help_text="Stripe is configured on this platform.")
    subscription = SubscriptionSerializer(allow_null=True)
    running_bill = RunningBillSerializer(allow_null=True)


class InvoiceSerializer(serializers.Serializer):
    id = serializers.CharField()
    number = serializers.CharField()
    status = serializers.CharField()
    currency = serializers.CharField()
    total_cents = serializers.IntegerField()
    amount_due_cents = serializers.IntegerField()
    created = serializers.DateTimeField()
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    hosted_invoice_url = serializers.CharField()
    invoice_pdf = serializers.CharField()


def paginated(name: str, item: type[serializers.Serializer]) -> serializers.Serializer:
    """The schema of a page of ``item`` (these lists are not querysets)."""
    from drf_spectacular.utils import inline_serializer

    return inline_serializer(
        name,
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item(many=True),
        },
    )

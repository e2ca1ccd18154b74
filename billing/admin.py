from django.contrib import admin

from billing.models import MeterReport, Plan, StripeCustomer, StripeEvent, Subscription, UsageRecord


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "organization",
        "kind",
        "provider",
        "model_id",
        "total_tokens",
        "cost",
    ]
    list_filter = ["kind", "provider", "channel"]
    search_fields = ["organization__schema_name", "model_id"]
    readonly_fields = [f.name for f in UsageRecord._meta.fields]

    def has_add_permission(self, request):
        return False  # the ledger is written by the AI layer only

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    """Plans and their limits (empty: unlimited). Organizations name theirs by code;
    processes re-read a changed plan within 30 seconds."""

    list_display = [
        "code",
        "name",
        "requests_per_minute",
        "key_requests_per_minute",
        "tokens_per_minute",
        "key_tokens_per_minute",
        "monthly_tokens",
        "monthly_cost",
        "monthly_messages",
        "max_documents",
        "stripe_price_monthly",
        "stripe_price_annual",
        "stripe_price_metered",
    ]
    search_fields = ["code", "name"]
    fieldsets = [
        (None, {"fields": ["code", "name"]}),
        (
            "Rate limits (per minute)",
            {
                "fields": [
                    "requests_per_minute",
                    "key_requests_per_minute",
                    "tokens_per_minute",
                    "key_tokens_per_minute",
                ]
            },
        ),
        (
            "Monthly quotas",
            {
                "fields": [
                    "monthly_tokens",
                    "monthly_cost",
                    "monthly_messages",
                    "max_documents",
                    "max_storage_bytes",
                ]
            },
        ),
        (
            "Stripe prices (docs/billing.md)",
            {
                "fields": [
                    "stripe_price_monthly",
                    "stripe_price_annual",
                    "stripe_price_metered",
                    "currency",
                    "price_monthly_cents",
                    "price_annual_cents",
                    "included_ai_tokens",
                    "overage_cents_per_million_tokens",
                ]
            },
        ),
    ]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Stripe's mirror: written from Stripe only (webhooks, ``manage.py stripe_sync``)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = [
        "organization",
        "status",
        "plan",
        "interval",
        "current_period_end",
        "cancel_at_period_end",
        "past_due_since",
        "synced_at",
    ]
    list_filter = ["status", "plan", "cancel_at_period_end"]
    search_fields = ["organization__schema_name", "organization__name", "stripe_id", "customer_id"]
    actions = ["resync"]

    @admin.action(description="Resync from Stripe and apply the plan")
    def resync(self, request, queryset):
        from billing.subscriptions import organization_plan_refresh, subscription_refresh

        for row in queryset:
            subscription_refresh(stripe_id=row.stripe_id, organization=row.organization)
            organization_plan_refresh(organization=row.organization, reason="admin resync")
        self.message_user(request, f"{queryset.count()} subscription(s) resynced.")


@admin.register(StripeCustomer)
class StripeCustomerAdmin(ReadOnlyAdmin):
    list_display = ["organization", "customer_id", "created_at", "deleted_at"]
    search_fields = ["organization__schema_name", "customer_id"]


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "type", "object_id", "received_at", "processed_at", "attempts"]
    list_filter = ["type", ("processed_at", admin.EmptyFieldListFilter)]
    search_fields = ["id", "object_id"]
    actions = ["process"]

    @admin.action(description="Process (again, if it was not)")
    def process(self, request, queryset):
        from billing.tasks import process_stripe_event

        for event in queryset.filter(processed_at=None):
            process_stripe_event.delay(event.id)
        self.message_user(request, "Queued the unprocessed events.")


@admin.register(MeterReport)
class MeterReportAdmin(ReadOnlyAdmin):
    list_display = ["identifier", "organization", "slice_start", "value", "sent_at"]
    list_filter = [("sent_at", admin.EmptyFieldListFilter)]
    search_fields = ["identifier", "organization__schema_name"]

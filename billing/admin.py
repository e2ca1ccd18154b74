from django.contrib import admin

from billing.models import Plan, UsageRecord


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
        "code", "name", "requests_per_minute", "key_requests_per_minute", "tokens_per_minute",
        "key_tokens_per_minute",
        "monthly_tokens", "monthly_cost", "monthly_messages", "max_documents",
    ]  # fmt: skip
    search_fields = ["code", "name"]

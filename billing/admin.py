from django.contrib import admin

from billing.models import UsageRecord


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

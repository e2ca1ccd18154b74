from django.contrib import admin, messages
from django_tenants.utils import schema_context

from audit.services import Actor
from integrations.models import APIKey
from integrations.services import api_key_revoke


@admin.register(APIKey)
class APIKeyAdmin(admin.ModelAdmin):
    """Platform staff see keys (never their secrets) and can revoke them. Keys are
    created by organization admins through the API or the dashboard, where the
    secret is shown once."""

    list_display = ["prefix", "name", "organization", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["prefix", "name", "organization__schema_name"]
    readonly_fields = [f.name for f in APIKey._meta.fields]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        actor = Actor.from_request(request)
        count = 0
        for api_key in queryset.filter(revoked_at__isnull=True).select_related("organization"):
            # The audit row goes to the key's organization's log.
            with schema_context(api_key.organization.schema_name):
                api_key_revoke(api_key=api_key, actor=actor)
            count += 1
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)

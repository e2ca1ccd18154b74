from django.contrib import admin

from audit.models import AuditEvent
from core.admin_site import organization_admin_site


@admin.register(AuditEvent, site=organization_admin_site)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "action", "actor_email", "api_key_label", "target_label"]
    list_filter = ["action"]
    search_fields = ["target_label", "actor_email", "api_key_label"]
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request):
        return False  # written by the services that make the changes

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

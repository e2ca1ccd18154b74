from django.contrib import admin

from core.admin_site import OrganizationModelAdmin, organization_admin_site
from files.models import File, FileSettings


@admin.register(File, site=organization_admin_site)
class FileAdmin(OrganizationModelAdmin):
    list_display = ["name", "kind", "purpose", "content_type", "size", "status", "created_at"]
    list_filter = ["status", "kind", "purpose", "content_type"]
    search_fields = ["name", "sha256"]
    readonly_fields = [
        "name",
        "content_type",
        "kind",
        "purpose",
        "size",
        "sha256",
        "storage",
        "status",
        "page_count",
        "data_summary",
        "metadata",
        "error",
        "processed_at",
        "created_at",
    ]
    exclude = ["extracted_text", "uploaded_by", "api_key_id"]

    def has_add_permission(self, request):
        return False


@admin.register(FileSettings, site=organization_admin_site)
class FileSettingsAdmin(OrganizationModelAdmin):
    list_display = ["attachment_retention_days", "updated_at"]

    def has_add_permission(self, request):
        return not FileSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

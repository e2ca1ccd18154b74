from django.contrib import admin

from core.admin_site import OrganizationModelAdmin, organization_admin_site
from files.models import File


@admin.register(File, site=organization_admin_site)
class FileAdmin(OrganizationModelAdmin):
    list_display = ["name", "content_type", "size", "status", "created_at"]
    list_filter = ["status", "content_type"]
    search_fields = ["name", "sha256"]
    readonly_fields = [
        "name",
        "content_type",
        "size",
        "sha256",
        "storage",
        "status",
        "summary",
        "created_at",
    ]
    exclude = ["extracted_text", "uploaded_by"]

    def has_add_permission(self, request):
        return False

from django.contrib import admin

from assistants import services
from assistants.models import Assistant, ProviderCredential
from users.admin_site import OrganizationModelAdmin, organization_admin_site


@admin.register(Assistant, site=organization_admin_site)
class AssistantAdmin(OrganizationModelAdmin):
    list_display = ["name", "model", "retrieval_mode", "is_active", "updated_at"]
    list_filter = ["is_active", "retrieval_mode"]
    search_fields = ["name", "description"]
    raw_id_fields = ["model", "fallback_model"]
    exclude = ["created_by"]


@admin.register(ProviderCredential, site=organization_admin_site)
class ProviderCredentialAdmin(OrganizationModelAdmin):
    """Keys are entered through the API/dashboard; the admin shows metadata only."""

    list_display = ["provider", "key_hint", "base_url", "last_test_ok", "last_tested_at"]
    readonly_fields = ["provider", "key_hint", "base_url", "organization_id", "last_tested_at",
                       "last_test_ok", "last_test_message"]  # fmt: skip
    fields = readonly_fields
    actions = ["test_credentials"]

    @admin.display(description="API key")
    def key_hint(self, obj):
        return (
            f"…{obj.api_key_last4}"
            if obj.api_key_last4
            else ("set" if obj.api_key_encrypted else "")
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Test the selected credentials with their providers")
    def test_credentials(self, request, queryset):
        for credential in queryset:
            credential = services.credential_test(credential=credential)
            self.message_user(request, f"{credential.provider}: {credential.last_test_message}")

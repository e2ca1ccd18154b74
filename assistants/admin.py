from django.contrib import admin

from assistants import services
from assistants.models import Assistant, ProviderCredential
from audit.services import Actor
from core.admin_site import OrganizationModelAdmin, organization_admin_site


@admin.register(Assistant, site=organization_admin_site)
class AssistantAdmin(OrganizationModelAdmin):
    list_display = ["name", "model", "retrieval_mode", "is_active", "updated_at"]
    list_filter = ["is_active", "retrieval_mode"]
    search_fields = ["name", "description"]
    raw_id_fields = ["model", "fallback_model"]
    exclude = ["created_by"]

    # Through the services, like the API: validation and the audit log are the same.
    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        names = form.changed_data if change else list(data)
        fields = {name: data[name] for name in names if name in services.ASSISTANT_FIELDS}
        collections = data["collections"] if "collections" in names else None
        actor = Actor.from_request(request)
        if change:
            original = Assistant.objects.get(pk=obj.pk)
            services.assistant_update(
                assistant=original, collections=collections, actor=actor, **fields
            )
        else:
            created = services.assistant_create(
                user=request.user, collections=collections, actor=actor, **fields
            )
            obj.pk = created.pk

    def delete_model(self, request, obj):
        services.assistant_delete(assistant=obj, actor=Actor.from_request(request))

    def delete_queryset(self, request, queryset):
        for assistant in queryset:
            self.delete_model(request, assistant)


@admin.register(ProviderCredential, site=organization_admin_site)
class ProviderCredentialAdmin(OrganizationModelAdmin):
    """Keys are entered through the API/dashboard; the admin shows metadata only."""

    list_display = ["provider", "key_hint", "base_url", "last_test_ok", "last_tested_at"]
    readonly_fields = [
        "provider",
        "key_hint",
        "base_url",
        "organization_id",
        "last_tested_at",
        "last_test_ok",
        "last_test_message",
    ]
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

    def delete_model(self, request, obj):
        services.credential_delete(credential=obj, actor=Actor.from_request(request))

    def delete_queryset(self, request, queryset):
        for credential in queryset:
            self.delete_model(request, credential)

    @admin.action(description="Test the selected credentials with their providers")
    def test_credentials(self, request, queryset):
        for credential in queryset:
            credential = services.credential_test(credential=credential)
            self.message_user(request, f"{credential.provider}: {credential.last_test_message}")

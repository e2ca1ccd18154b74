"""API keys in the admin: platform staff (public host) see every key and can revoke
them; an organization's admins (its host) also create their own. A new key's secret
is shown once, in the confirmation message."""

from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from django_tenants.utils import schema_context

from audit.services import Actor
from core.admin_site import OrganizationModelAdmin, organization_admin_site
from integrations.models import APIKey, Integration, IntegrationEvent, Scope
from integrations.services import api_key_create, api_key_revoke


class RevokeAction:
    actions = ["revoke"]

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


@admin.register(APIKey)
class APIKeyAdmin(RevokeAction, admin.ModelAdmin):
    list_display = ["prefix", "name", "organization", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["prefix", "name", "organization__schema_name"]
    readonly_fields = [f.name for f in APIKey._meta.fields]

    def has_add_permission(self, request):
        return False  # keys are made by the organization's admins (their host)


class APIKeyCreateForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = APIKey
        fields = ["name", "scopes", "expires_at"]

    def clean_expires_at(self):
        expires_at = self.cleaned_data["expires_at"]
        if expires_at is not None and expires_at <= timezone.now():
            raise forms.ValidationError("The expiry must be in the future.")
        return expires_at


@admin.register(APIKey, site=organization_admin_site)
class OrganizationAPIKeyAdmin(RevokeAction, OrganizationModelAdmin):
    list_display = ["prefix", "name", "scopes", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["prefix", "name"]
    readonly_fields = [f.name for f in APIKey._meta.fields if f.name != "organization"]
    exclude = ["organization"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(organization=request.tenant)

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = APIKeyCreateForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def get_exclude(self, request, obj=None):
        return self.exclude if obj is not None else None

    def has_change_permission(self, request, obj=None):
        return False  # keys are revoked, not edited

    def has_delete_permission(self, request, obj=None):
        return False  # revoked keys stay listed: their usage rows point at them

    def save_model(self, request, obj, form, change):
        api_key, key = api_key_create(
            organization=request.tenant,
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            expires_at=form.cleaned_data["expires_at"],
            actor=Actor.from_request(request),
        )
        obj.pk = api_key.pk
        self.message_user(
            request,
            f"Your new API key (copy it now, it is not shown again): {key}",
            messages.WARNING,
        )


# -- Slack and Teams bots (issue 15): platform staff see them; tokens are never shown --


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    list_display = ["name", "provider", "organization", "status", "last_event_at", "last_error_at"]
    list_filter = ["provider", "status"]
    search_fields = ["name", "external_id", "organization__schema_name"]
    exclude = ["token_encrypted"]
    readonly_fields = [f.name for f in Integration._meta.fields if f.name != "token_encrypted"]

    def has_add_permission(self, request):
        return False  # installed by an organization's admin (OAuth / the Integrations page)


@admin.register(IntegrationEvent)
class IntegrationEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "provider", "kind", "level", "status", "organization", "summary"]
    list_filter = ["provider", "level", "kind"]
    search_fields = ["delivery_id", "summary", "organization__schema_name"]
    readonly_fields = [f.name for f in IntegrationEvent._meta.fields]

    def has_add_permission(self, request):
        return False

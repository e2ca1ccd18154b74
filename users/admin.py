from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from audit.services import Actor
from core.admin_site import OrganizationModelAdmin, organization_admin_site
from users import services
from users.models import Domain, Invitation, Membership, Organization, User

# -- platform staff, public host ------------------------------------------------


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "schema_name", "plan", "created_at"]
    search_fields = ["name", "schema_name"]
    readonly_fields = ["schema_name", "created_at"]
    inlines = [DomainInline]

    def has_delete_permission(self, request, obj=None):
        # Deleting an organization drops a schema: done by a command, not a click.
        return False


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "name", "is_staff", "is_active", "date_joined"]
    search_fields = ["email", "name"]
    fieldsets = [
        (None, {"fields": ["email", "password", "name"]}),
        ("Status", {"fields": ["is_active", "is_staff", "is_superuser", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]
    filter_horizontal: list = []
    list_filter = ["is_staff", "is_active"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__email", "organization__schema_name"]
    raw_id_fields = ["user", "organization"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "organization", "role", "status", "expires_at"]
    search_fields = ["email", "organization__schema_name"]
    exclude = ["token_hash"]
    raw_id_fields = ["organization", "invited_by", "accepted_by"]


# -- organization admins, organization host ------------------------------------


@admin.register(Membership, site=organization_admin_site)
class OrganizationMembershipAdmin(OrganizationModelAdmin):
    list_display = ["user", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__email", "user__name"]
    fields = ["user", "role"]
    readonly_fields = ["user"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(organization=request.tenant)

    def has_add_permission(self, request):
        return False  # people join by invitation

    def save_model(self, request, obj, form, change):
        services.membership_change_role(
            membership=obj, role=obj.role, actor=Actor.from_request(request)
        )

    def delete_model(self, request, obj):
        services.membership_remove(membership=obj, actor=Actor.from_request(request))

    def delete_queryset(self, request, queryset):
        for membership in queryset:
            self.delete_model(request, membership)


@admin.register(Invitation, site=organization_admin_site)
class OrganizationInvitationAdmin(OrganizationModelAdmin):
    list_display = ["email", "role", "status", "expires_at"]
    readonly_fields = ["email", "role", "expires_at", "accepted_at", "revoked_at"]
    fields = readonly_fields

    def get_queryset(self, request):
        return super().get_queryset(request).filter(organization=request.tenant)

    def has_add_permission(self, request):
        return False  # sent through the API / dashboard, which e-mails the token

    def has_change_permission(self, request, obj=None):
        return False

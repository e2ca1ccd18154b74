"""Django admin on an organization's host, for that organization's admins.

The platform admin (django.contrib.admin.site) lives on the public host and is
for platform staff. This site lets an organization admin manage their own
organization's rows, and nothing else: every queryset is filtered by the
request's organization.
"""

from django.contrib import admin

from core.access import Role, membership_model


class OrganizationAdminSite(admin.AdminSite):
    site_header = "Organization administration"
    site_title = "Organization admin"
    index_title = "Manage your organization"

    def has_permission(self, request) -> bool:
        user = request.user
        tenant = getattr(request, "tenant", None)
        if not (user.is_active and user.is_authenticated) or tenant is None:
            return False
        return (
            membership_model()
            .objects.filter(user=user, organization=tenant, role=Role.ADMIN)
            .exists()
        )


organization_admin_site = OrganizationAdminSite(name="organization_admin")


class OrganizationModelAdmin(admin.ModelAdmin):
    """Org admins have no Django permissions; their role is the permission."""

    def has_module_permission(self, request):
        return self.admin_site.has_permission(request)

    def has_view_permission(self, request, obj=None):
        return self.admin_site.has_permission(request)

    def has_add_permission(self, request):
        return self.admin_site.has_permission(request)

    def has_change_permission(self, request, obj=None):
        return self.admin_site.has_permission(request)

    def has_delete_permission(self, request, obj=None):
        return self.admin_site.has_permission(request)

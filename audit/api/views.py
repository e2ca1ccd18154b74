from drf_spectacular.utils import extend_schema
from rest_framework import mixins

from audit import selectors
from audit.api import serializers as s
from core.access import Role, Scope
from core.api.views import OrganizationGenericAPIView


class AuditEventListView(mixins.ListModelMixin, OrganizationGenericAPIView):
    """Who changed what and when: keys, roles, assistants, credentials. Newest first."""

    required_roles = {"GET": Role.ADMIN}
    api_scopes = {"GET": Scope.ADMIN}
    serializer_class = s.AuditEventOutputSerializer

    def get_queryset(self):
        query = s.AuditQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.audit_event_list(**query.validated_data)

    @extend_schema(operation_id="audit_events_list", parameters=[s.AuditQuerySerializer])
    def get(self, request):
        return self.list(request)

"""API keys: admins create (the secret is in that response only), list and revoke."""

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import mixins
from rest_framework.response import Response

from assistants.models import Assistant
from audit.services import Actor
from core.access import Role, Scope
from core.api.views import OrganizationAPIView, OrganizationGenericAPIView
from integrations import selectors, services
from integrations.api import serializers as s


class APIKeyListView(mixins.ListModelMixin, OrganizationGenericAPIView):
    required_roles = {"GET": Role.ADMIN, "POST": Role.ADMIN}
    api_scope = Scope.ADMIN
    serializer_class = s.APIKeyOutputSerializer

    def get_queryset(self):
        return selectors.api_key_list(organization=self.organization)

    @extend_schema(operation_id="api_keys_list")
    def get(self, request):
        return self.list(request)

    @extend_schema(request=s.APIKeyCreateSerializer, responses={201: s.APIKeyCreatedSerializer})
    def post(self, request):
        data = s.APIKeyCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        assistant_ids = values["assistants"]
        known = set(Assistant.objects.filter(id__in=assistant_ids).values_list("id", flat=True))
        if set(assistant_ids) - known:
            raise ValidationError({"assistants": ["Unknown assistant."]})
        api_key, key = services.api_key_create(
            organization=self.organization,
            name=values["name"],
            scopes=values["scopes"],
            assistant_ids=assistant_ids,
            expires_at=values["expires_at"],
            actor=Actor.from_request(request),
        )
        api_key.key = key
        return Response(s.APIKeyCreatedSerializer(api_key).data, status=201)


class APIKeyDetailView(OrganizationAPIView):
    required_roles = {"GET": Role.ADMIN}
    api_scope = Scope.ADMIN

    @extend_schema(responses=s.APIKeyOutputSerializer)
    def get(self, request, api_key_id):
        api_key = selectors.api_key_get(organization=self.organization, api_key_id=api_key_id)
        return Response(s.APIKeyOutputSerializer(api_key).data)


class APIKeyRevokeView(OrganizationAPIView):
    required_roles = {"POST": Role.ADMIN}
    api_scope = Scope.ADMIN

    @extend_schema(request=None, responses=s.APIKeyOutputSerializer)
    def post(self, request, api_key_id):
        api_key = selectors.api_key_get(organization=self.organization, api_key_id=api_key_id)
        api_key = services.api_key_revoke(api_key=api_key, actor=Actor.from_request(request))
        return Response(s.APIKeyOutputSerializer(api_key).data)

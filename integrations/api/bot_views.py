"""Slack and Teams integrations: admins list, connect, map channels, disconnect."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins
from rest_framework.response import Response

from audit.services import Actor
from core.access import Role, Scope
from core.api.views import OrganizationAPIView, OrganizationGenericAPIView
from integrations import bot_selectors as selectors
from integrations import bot_services as services
from integrations.api import bot_serializers as s
from integrations.slack.oauth import slack_install_url
from integrations.teams.package import teams_package


class _Admin:
    required_roles = {m: Role.ADMIN for m in ("GET", "POST", "PATCH", "DELETE")}
    api_scope = Scope.ADMIN


class IntegrationListView(_Admin, mixins.ListModelMixin, OrganizationGenericAPIView):
    serializer_class = s.IntegrationOutputSerializer

    def get_queryset(self):
        return selectors.integration_list(organization=self.organization)

    @extend_schema(operation_id="integrations_list")
    def get(self, request):
        return self.list(request)


class IntegrationDetailView(_Admin, OrganizationAPIView):
    def _get(self, integration_id):
        return selectors.integration_get(
            organization=self.organization, integration_id=integration_id
        )

    @extend_schema(responses=s.IntegrationOutputSerializer)
    def get(self, request, integration_id):
        return Response(s.IntegrationOutputSerializer(self._get(integration_id)).data)

    @extend_schema(request=s.IntegrationUpdateSerializer, responses=s.IntegrationOutputSerializer)
    def patch(self, request, integration_id):
        integration = self._get(integration_id)
        data = s.IntegrationUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        channels = values.get("channels")
        integration = services.integration_configure(
            integration=integration,
            default_assistant_id=values.get("default_assistant", ...),
            channels=None
            if channels is None
            else {c["channel_id"]: c["assistant"] for c in channels},
            actor=Actor.from_request(request),
        )
        return Response(s.IntegrationOutputSerializer(integration).data)

    @extend_schema(responses=s.IntegrationOutputSerializer)
    def delete(self, request, integration_id):
        integration = services.integration_disconnect(
            integration=self._get(integration_id), actor=Actor.from_request(request)
        )
        return Response(s.IntegrationOutputSerializer(integration).data)


class IntegrationEventListView(_Admin, mixins.ListModelMixin, OrganizationGenericAPIView):
    serializer_class = s.IntegrationEventSerializer

    def get_queryset(self):
        return selectors.integration_events(
            organization=self.organization, integration_id=self.kwargs["integration_id"]
        )

    @extend_schema(operation_id="integrations_events_list")
    def get(self, request, integration_id):
        return self.list(request)


class SlackInstallView(_Admin, OrganizationAPIView):
    @extend_schema(request=None, responses=s.SlackInstallSerializer)
    def post(self, request):
        url = slack_install_url(organization=self.organization, user=request.user)
        return Response({"url": url})


class TeamsConnectView(_Admin, OrganizationAPIView):
    @extend_schema(request=s.TeamsConnectSerializer, responses={201: s.IntegrationOutputSerializer})
    def post(self, request):
        data = s.TeamsConnectSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        integration = services.teams_connect(
            organization=self.organization,
            name=values["name"],
            app_id=str(values["app_id"]),
            app_password=values["app_password"],
            tenant_id=str(values["tenant_id"]),
            actor=Actor.from_request(request),
        )
        return Response(s.IntegrationOutputSerializer(integration).data, status=201)


class TeamsPackageView(_Admin, OrganizationAPIView):
    @extend_schema(responses={(200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY)})
    def get(self, request, integration_id):
        integration = selectors.integration_get(
            organization=self.organization, integration_id=integration_id
        )
        content, filename = teams_package(integration=integration)
        response = HttpResponse(content, content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

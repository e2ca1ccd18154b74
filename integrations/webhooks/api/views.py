"""Outbound webhooks: admins manage endpoints, read the delivery log, redeliver."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.response import Response

from audit.services import Actor
from core.access import Role, Scope
from core.api.views import OrganizationAPIView, OrganizationGenericAPIView
from integrations.webhooks import catalogue, selectors, services
from integrations.webhooks.api import serializers as s

ADMIN_ONLY = {m: Role.ADMIN for m in ("GET", "POST", "PATCH", "DELETE")}


class WebhookEventTypeListView(mixins.ListModelMixin, OrganizationGenericAPIView):
    """The event catalogue with each payload's JSON schema, paginated like every list."""

    required_roles = ADMIN_ONLY
    api_scope = Scope.ADMIN
    serializer_class = s.WebhookEventTypeSerializer

    def get_queryset(self):
        return catalogue.event_types()

    @extend_schema(operation_id="webhook_event_types_list")
    def get(self, request):
        return self.list(request)


class WebhookEndpointListView(mixins.ListModelMixin, OrganizationGenericAPIView):
    required_roles = ADMIN_ONLY
    api_scope = Scope.ADMIN
    serializer_class = s.WebhookEndpointOutputSerializer

    def get_queryset(self):
        return selectors.endpoint_list(organization=self.organization)

    @extend_schema(operation_id="webhook_endpoints_list")
    def get(self, request):
        return self.list(request)

    @extend_schema(
        request=s.WebhookEndpointCreateSerializer,
        responses={201: s.WebhookEndpointSecretSerializer},
    )
    def post(self, request):
        data = s.WebhookEndpointCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint, secret = services.endpoint_create(
            organization=self.organization, actor=Actor.from_request(request), **data.validated_data
        )
        endpoint.secret = secret
        return Response(s.WebhookEndpointSecretSerializer(endpoint).data, status=201)


class WebhookEndpointDetailView(OrganizationAPIView):
    required_roles = ADMIN_ONLY
    api_scope = Scope.ADMIN

    def _get(self, endpoint_id):
        return selectors.endpoint_get(organization=self.organization, endpoint_id=endpoint_id)

    @extend_schema(responses=s.WebhookEndpointOutputSerializer)
    def get(self, request, endpoint_id):
        return Response(s.WebhookEndpointOutputSerializer(self._get(endpoint_id)).data)

    @extend_schema(
        request=s.WebhookEndpointUpdateSerializer, responses=s.WebhookEndpointOutputSerializer
    )
    def patch(self, request, endpoint_id):
        endpoint = self._get(endpoint_id)
        data = s.WebhookEndpointUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        endpoint = services.endpoint_update(
            endpoint=endpoint, actor=Actor.from_request(request), **data.validated_data
        )
        return Response(s.WebhookEndpointOutputSerializer(endpoint).data)

    @extend_schema(responses={204: None})
    def delete(self, request, endpoint_id):
        services.endpoint_delete(endpoint=self._get(endpoint_id), actor=Actor.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookEndpointRotateSecretView(OrganizationAPIView):
    required_roles = ADMIN_ONLY
    api_scope = Scope.ADMIN

    @extend_schema(request=None, responses=s.WebhookEndpointSecretSerializer)
    def post(self, request, endpoint_id):
        endpoint = selectors.endpoint_get(organization=self.organization, endpoint_id=endpoint_id)
        secret = services.endpoint_rotate_secret(
            endpoint=endpoint, actor=Actor.from_request(request)
        )
        endpoint.refresh_from_db()
        endpoint.secret = secret
        return Response(s.WebhookEndpointSecretSerializer(endpoint).data)


class WebhookEndpointTestView(OrganizationAPIView):
    """Queue a ``webhook.test`` delivery to the endpoint; its result is in the log."""

    required_roles = ADMIN_ONLY
    api_scope = Scope.ADMIN

    @extend_schema(request=None, responses={202: s.WebhookDeliveryDetailSerializer})
    def post(self, request, endpoint_id):
        endpoint = selectors.endpoint_get(organization=self.organization, endpoint_id=endpoint_id)
        delivery = services.endpoint_send_test(endpoint=endpoint, actor=Actor.from_request(request))
        return Response(s.WebhookDeliveryDetailSerializer(delivery).data, status=202)


class WebhookDeliveryListView(mixins.ListModelMixin, OrganizationGenericAPIView):
    """The delivery log of one endpoint, newest first."""

    required_roles = ADMIN_ONLY
    api_scope = Scope.ADMIN
    serializer_class = s.WebhookDeliveryOutputSerializer

    def get_queryset(self):
        endpoint = selectors.endpoint_get(
            organization=self.organization, endpoint_id=self.kwargs["endpoint_id"]
        )
        filters = s.WebhookDeliveryFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return selectors.delivery_list(
            organization=self.organization,
            endpoint=endpoint,
            status=filters.validated_data.get("status", ""),
        )

    @extend_schema(
        operation_id="webhook_deliveries_list",
        parameters=[
            OpenApiParameter("status", str, enum=[c[0] for c in s.WebhookDeliveryStatus.choices])
        ],
    )
    def get(self, request, endpoint_id):
        return self.list(request)


class WebhookDeliveryDetailView(OrganizationAPIView):
    required_roles = ADMIN_ONLY
    api_scope = Scope.ADMIN

    @extend_schema(responses=s.WebhookDeliveryDetailSerializer)
    def get(self, request, delivery_id):
        delivery = selectors.delivery_get(organization=self.organization, delivery_id=delivery_id)
        return Response(s.WebhookDeliveryDetailSerializer(delivery).data)


class WebhookDeliveryRedeliverView(OrganizationAPIView):
    required_roles = ADMIN_ONLY
    api_scope = Scope.ADMIN

    @extend_schema(request=None, responses={202: s.WebhookDeliveryDetailSerializer})
    def post(self, request, delivery_id):
        delivery = selectors.delivery_get(organization=self.organization, delivery_id=delivery_id)
        delivery = services.delivery_redeliver(delivery=delivery, actor=Actor.from_request(request))
        return Response(s.WebhookDeliveryDetailSerializer(delivery).data, status=202)

"""Widgets: admins configure them; everyone in the organization reads their
conversations (read-only: a visitor's session is never continued from here)."""

from django.core.exceptions import ObjectDoesNotExist
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.response import Response

from audit.services import Actor
from chat.models import ChatSession
from core.access import Role, Scope
from core.api.views import OrganizationAPIView, OrganizationGenericAPIView
from core.lookups import parse_uuid
from integrations.models import WidgetConfiguration
from integrations.widget import services
from integrations.widget.api import serializers as s


def _decorate(request, widgets):
    stats = services.widget_stats(widgets=list(widgets))
    origin = request.tenant.url if getattr(request, "tenant", None) else ""
    for widget in widgets:
        row = stats.get(widget.pk, {})
        widget.conversations = row.get("conversations", 0)
        widget.messages = row.get("messages") or 0
        widget.tokens = row.get("tokens") or 0
        widget.cost = row.get("cost") or 0
        widget.snippet = (
            f'<script src="{origin}/widget.js" data-widget="{widget.public_id}" async></script>'
        )
    return widgets


def _get(view, widget_id) -> WidgetConfiguration:
    return WidgetConfiguration.objects.get(organization=view.organization, pk=parse_uuid(widget_id))


class WidgetListView(mixins.ListModelMixin, OrganizationGenericAPIView):
    required_roles = {"GET": Role.VIEWER, "POST": Role.ADMIN}
    api_scopes = {"GET": Scope.SESSIONS_READ, "POST": Scope.ADMIN}
    serializer_class = s.WidgetOutputSerializer

    def get_queryset(self):
        return WidgetConfiguration.objects.filter(organization=self.organization)

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        return _decorate(self.request, page) if page is not None else page

    @extend_schema(operation_id="widgets_list")
    def get(self, request):
        return self.list(request)

    @extend_schema(request=s.WidgetInputSerializer, responses={201: s.WidgetOutputSerializer})
    def post(self, request):
        data = s.WidgetInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        widget = services.widget_create(
            organization=self.organization,
            actor=Actor.from_request(request),
            **data.validated_data,
        )
        return Response(s.WidgetOutputSerializer(_decorate(request, [widget])[0]).data, status=201)


class WidgetDetailView(OrganizationAPIView):
    required_roles = {"GET": Role.VIEWER, "PATCH": Role.ADMIN, "DELETE": Role.ADMIN}
    api_scopes = {"GET": Scope.SESSIONS_READ, "PATCH": Scope.ADMIN, "DELETE": Scope.ADMIN}

    @extend_schema(responses=s.WidgetOutputSerializer)
    def get(self, request, widget_id):
        widget = _decorate(request, [_get(self, widget_id)])[0]
        return Response(s.WidgetOutputSerializer(widget).data)

    @extend_schema(request=s.WidgetInputSerializer, responses=s.WidgetOutputSerializer)
    def patch(self, request, widget_id):
        widget = _get(self, widget_id)
        data = s.WidgetInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        widget = services.widget_update(
            widget=widget, actor=Actor.from_request(request), **data.validated_data
        )
        return Response(s.WidgetOutputSerializer(_decorate(request, [widget])[0]).data)

    @extend_schema(responses={204: None})
    def delete(self, request, widget_id):
        services.widget_delete(widget=_get(self, widget_id), actor=Actor.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WidgetSessionListView(mixins.ListModelMixin, OrganizationGenericAPIView):
    """The widget's conversations, newest first; their messages are read with
    ``GET /chat/sessions/{id}/messages`` (admins see every session)."""

    required_roles = {"GET": Role.ADMIN}
    api_scopes = {"GET": Scope.SESSIONS_READ}
    serializer_class = s.WidgetSessionSerializer

    def get_queryset(self):
        try:
            widget = _get(self, self.kwargs["widget_id"])
        except ObjectDoesNotExist:
            raise
        return ChatSession.objects.filter(api_key_id=widget.pk, channel="widget")

    @extend_schema(operation_id="widget_sessions_list")
    def get(self, request, widget_id):
        return self.list(request)

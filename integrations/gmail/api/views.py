"""Gmail, per member: each member connects, configures, syncs and drafts with their own
mailbox only (another member's connection answers 404 like a missing one). People
only: API keys are refused (the mailbox is a person's)."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.response import Response

from audit.services import Actor
from core.access import Role
from core.api.views import OrganizationAPIView, OrganizationGenericAPIView
from integrations.gmail import selectors, services
from integrations.gmail.api import serializers as s
from integrations.gmail.oauth import gmail_connect_url

TAG = ["gmail"]


class _Member:
    required_roles = {m: Role.MEMBER for m in ("GET", "POST", "PATCH", "DELETE")}
    api_keys_allowed = False

    def connection(self, connection_id):
        return selectors.gmail_connection_get(
            organization=self.organization, user=self.request.user, connection_id=connection_id
        )


class GmailConnectView(_Member, OrganizationAPIView):
    @extend_schema(
        tags=TAG,
        request=s.GmailConnectInputSerializer,
        responses=s.GmailConnectOutputSerializer,
    )
    def post(self, request):
        data = s.GmailConnectInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        url = gmail_connect_url(
            organization=self.organization,
            user=request.user,
            compose=data.validated_data["compose"],
        )
        return Response({"url": url})


class GmailConnectionListView(_Member, mixins.ListModelMixin, OrganizationGenericAPIView):
    serializer_class = s.GmailConnectionOutputSerializer

    def get_queryset(self):
        return selectors.gmail_connections(organization=self.organization, user=self.request.user)

    @extend_schema(tags=TAG, operation_id="gmail_connections_list")
    def get(self, request):
        return self.list(request)


class GmailConnectionDetailView(_Member, OrganizationAPIView):
    @extend_schema(tags=TAG, responses=s.GmailConnectionOutputSerializer)
    def get(self, request, connection_id):
        return Response(s.GmailConnectionOutputSerializer(self.connection(connection_id)).data)

    @extend_schema(
        tags=TAG,
        request=s.GmailConfigureInputSerializer,
        responses=s.GmailConnectionOutputSerializer,
    )
    def patch(self, request, connection_id):
        connection = self.connection(connection_id)
        data = s.GmailConfigureInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        connection = services.gmail_configure(
            connection=connection,
            label_id=data.validated_data["label_id"],
            collection_id=data.validated_data["collection"],
            actor=Actor.from_request(request),
        )
        return Response(s.GmailConnectionOutputSerializer(connection).data)

    @extend_schema(tags=TAG, responses={204: None})
    def delete(self, request, connection_id):
        services.gmail_disconnect(
            connection=self.connection(connection_id), actor=Actor.from_request(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class GmailLabelListView(_Member, OrganizationAPIView):
    @extend_schema(
        tags=TAG, operation_id="gmail_labels_list", responses=s.GmailLabelsOutputSerializer
    )
    def get(self, request, connection_id):
        labels = services.gmail_labels(connection=self.connection(connection_id))
        return Response(s.GmailLabelsOutputSerializer({"labels": labels}).data)


class GmailSyncView(_Member, OrganizationAPIView):
    @extend_schema(tags=TAG, request=None, responses={202: s.GmailConnectionOutputSerializer})
    def post(self, request, connection_id):
        connection = services.gmail_sync_request(connection=self.connection(connection_id))
        return Response(
            s.GmailConnectionOutputSerializer(connection).data, status=status.HTTP_202_ACCEPTED
        )


class GmailDraftView(_Member, OrganizationAPIView):
    @extend_schema(
        tags=TAG,
        request=s.GmailDraftInputSerializer,
        responses={201: s.GmailDraftOutputSerializer},
    )
    def post(self, request, connection_id):
        connection = self.connection(connection_id)
        data = s.GmailDraftInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        draft = services.gmail_draft_reply(
            connection=connection,
            thread_id=values["thread_id"],
            assistant_id=values["assistant"],
            instructions=values.get("instructions", ""),
            caller=self.caller,
            organization=self.organization,
        )
        return Response(s.GmailDraftOutputSerializer(draft).data, status=status.HTTP_201_CREATED)

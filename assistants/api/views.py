"""Model catalog, assistants and provider credentials: thin views over services."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.response import Response

from assistants import selectors, services
from assistants.api import serializers as s
from assistants.catalog import selectors as catalog
from assistants.catalog.models import Capability, Provider
from audit.services import Actor
from core.access import Role, Scope
from core.api.views import OrganizationAPIView, OrganizationGenericAPIView


class ModelListView(mixins.ListModelMixin, OrganizationGenericAPIView):
    api_scope = "assistants"
    serializer_class = s.AIModelSerializer

    def get_queryset(self):
        query = s.ModelQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return catalog.ai_model_list(
            capability=query.validated_data.get("capability"),
            provider=query.validated_data.get("provider"),
        )

    @extend_schema(
        operation_id="models_list",
        parameters=[
            OpenApiParameter("capability", enum=Capability.values),
            OpenApiParameter("provider", enum=Provider.values),
        ],
    )
    def get(self, request):
        return self.list(request)


class AssistantListView(mixins.ListModelMixin, OrganizationGenericAPIView):
    api_scope = "assistants"
    serializer_class = s.AssistantOutputSerializer

    def get_queryset(self):
        query = s.AssistantQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.assistant_list(
            is_active=query.validated_data["is_active"],
            search=query.validated_data["search"],
            only_ids=self.allowed_assistant_ids(),
        )

    @extend_schema(
        operation_id="assistants_list",
        parameters=[OpenApiParameter("is_active", bool), OpenApiParameter("search", str)],
    )
    def get(self, request):
        return self.list(request)

    @extend_schema(request=s.AssistantInputSerializer, responses={201: s.AssistantOutputSerializer})
    def post(self, request):
        data = s.AssistantInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        assistant = services.assistant_create(
            user=request.user, actor=Actor.from_request(request), **data.validated_data
        )
        return Response(s.AssistantOutputSerializer(assistant).data, status=201)


class AssistantDetailView(OrganizationAPIView):
    api_scope = "assistants"

    def _get(self, assistant_id):
        return selectors.assistant_get(
            assistant_id=assistant_id, only_ids=self.allowed_assistant_ids()
        )

    @extend_schema(responses=s.AssistantOutputSerializer)
    def get(self, request, assistant_id):
        return Response(s.AssistantOutputSerializer(self._get(assistant_id)).data)

    @extend_schema(request=s.AssistantInputSerializer, responses=s.AssistantOutputSerializer)
    def patch(self, request, assistant_id):
        assistant = self._get(assistant_id)
        data = s.AssistantInputSerializer(assistant, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        assistant = services.assistant_update(
            assistant=assistant, actor=Actor.from_request(request), **data.validated_data
        )
        return Response(s.AssistantOutputSerializer(assistant).data)

    @extend_schema(responses={204: None})
    def delete(self, request, assistant_id):
        services.assistant_delete(
            assistant=self._get(assistant_id), actor=Actor.from_request(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class CredentialListView(mixins.ListModelMixin, OrganizationGenericAPIView):
    required_roles = {"GET": Role.ADMIN, "POST": Role.ADMIN}
    api_scopes = {"GET": Scope.ADMIN, "POST": Scope.ADMIN}
    serializer_class = s.CredentialOutputSerializer

    def get_queryset(self):
        return selectors.credential_list()

    @extend_schema(operation_id="credentials_list")
    def get(self, request):
        return self.list(request)

    @extend_schema(
        request=s.CredentialCreateSerializer, responses={201: s.CredentialOutputSerializer}
    )
    def post(self, request):
        data = s.CredentialCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        credential = services.credential_create(
            user=request.user, actor=Actor.from_request(request), **data.validated_data
        )
        return Response(s.CredentialOutputSerializer(credential).data, status=201)


class CredentialDetailView(OrganizationAPIView):
    required_roles = {"GET": Role.ADMIN, "PATCH": Role.ADMIN, "DELETE": Role.ADMIN}
    api_scopes = {"GET": Scope.ADMIN, "PATCH": Scope.ADMIN, "DELETE": Scope.ADMIN}

    def _get(self, credential_id):
        return selectors.credential_get(credential_id=credential_id)

    @extend_schema(responses=s.CredentialOutputSerializer)
    def get(self, request, credential_id):
        return Response(s.CredentialOutputSerializer(self._get(credential_id)).data)

    @extend_schema(request=s.CredentialUpdateSerializer, responses=s.CredentialOutputSerializer)
    def patch(self, request, credential_id):
        credential = self._get(credential_id)
        data = s.CredentialUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        credential = services.credential_update(
            credential=credential, actor=Actor.from_request(request), **data.validated_data
        )
        return Response(s.CredentialOutputSerializer(credential).data)

    @extend_schema(responses={204: None})
    def delete(self, request, credential_id):
        services.credential_delete(
            credential=self._get(credential_id), actor=Actor.from_request(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class CredentialTestView(OrganizationAPIView):
    """Check the key with the provider (lists models; spends no tokens).

    Answers 200 with ``last_test_ok`` and ``last_test_message`` whatever the provider
    said: the test itself succeeded, and its result is the answer.
    """

    required_roles = {"POST": Role.ADMIN}
    api_scopes = {"POST": Scope.ADMIN}

    @extend_schema(request=None, responses=s.CredentialOutputSerializer)
    def post(self, request, credential_id):
        credential = selectors.credential_get(credential_id=credential_id)
        credential = services.credential_test(credential=credential)
        return Response(s.CredentialOutputSerializer(credential).data)


class RerankerListView(mixins.ListModelMixin, OrganizationGenericAPIView):
    """Rerankers (ADR 0100): cross-encoders served over HTTP that assistants and searches
    may use to reorder retrieved passages. Admins only, like provider credentials."""

    required_roles = {"GET": Role.ADMIN, "POST": Role.ADMIN}
    api_scopes = {"GET": Scope.ADMIN, "POST": Scope.ADMIN}
    serializer_class = s.RerankerOutputSerializer

    def get_queryset(self):
        return selectors.reranker_list()

    @extend_schema(operation_id="rerankers_list")
    def get(self, request):
        return self.list(request)

    @extend_schema(request=s.RerankerCreateSerializer, responses={201: s.RerankerOutputSerializer})
    def post(self, request):
        data = s.RerankerCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reranker = services.reranker_create(
            user=request.user, actor=Actor.from_request(request), **data.validated_data
        )
        return Response(s.RerankerOutputSerializer(reranker).data, status=201)


class RerankerDetailView(OrganizationAPIView):
    required_roles = {"GET": Role.ADMIN, "PATCH": Role.ADMIN, "DELETE": Role.ADMIN}
    api_scopes = {"GET": Scope.ADMIN, "PATCH": Scope.ADMIN, "DELETE": Scope.ADMIN}

    def _get(self, reranker_id):
        return selectors.reranker_get(reranker_id=reranker_id)

    @extend_schema(responses=s.RerankerOutputSerializer)
    def get(self, request, reranker_id):
        return Response(s.RerankerOutputSerializer(self._get(reranker_id)).data)

    @extend_schema(request=s.RerankerUpdateSerializer, responses=s.RerankerOutputSerializer)
    def patch(self, request, reranker_id):
        reranker = self._get(reranker_id)
        data = s.RerankerUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        reranker = services.reranker_update(
            reranker=reranker, actor=Actor.from_request(request), **data.validated_data
        )
        return Response(s.RerankerOutputSerializer(reranker).data)

    @extend_schema(responses={204: None})
    def delete(self, request, reranker_id):
        services.reranker_delete(reranker=self._get(reranker_id), actor=Actor.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

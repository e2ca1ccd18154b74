"""Prompt templates: thin views over prompts.services and prompts.selectors."""

from django.core.exceptions import ObjectDoesNotExist
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.response import Response

from audit.services import Actor
from core.api.views import OrganizationAPIView, OrganizationGenericAPIView
from core.errors import NotFound
from core.lookups import parse_uuid
from prompts import rendering, selectors, services
from prompts.api import serializers as s
from prompts.models import UseSource


def _template(view, template_id):
    return selectors.template_get(template_id=template_id, user=view.request.user)


def _annotated(view, template_id):
    templates = selectors.with_usage(selectors.template_list(user=view.request.user))
    return templates.get(id=parse_uuid(template_id))


class TemplateListView(mixins.ListModelMixin, OrganizationGenericAPIView):
    api_scope = "prompts"
    serializer_class = s.TemplateOutputSerializer

    def get_queryset(self):
        query = s.TemplateQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.with_usage(
            selectors.template_list(user=self.request.user, **query.validated_data)
        )

    @extend_schema(
        operation_id="prompts_list",
        parameters=[
            OpenApiParameter("search", str),
            OpenApiParameter("category", str),
            OpenApiParameter("tag", str),
        ],
    )
    def get(self, request):
        return self.list(request)

    @extend_schema(request=s.TemplateCreateSerializer, responses={201: s.TemplateOutputSerializer})
    def post(self, request):
        data = s.TemplateCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        template = services.template_create(
            user=request.user, actor=Actor.from_request(request), **data.validated_data
        )
        return Response(s.TemplateOutputSerializer(_annotated(self, template.pk)).data, status=201)


class TemplateDetailView(OrganizationAPIView):
    api_scope = "prompts"

    @extend_schema(responses=s.TemplateOutputSerializer)
    def get(self, request, template_id):
        return Response(s.TemplateOutputSerializer(_annotated(self, template_id)).data)

    @extend_schema(request=s.TemplateUpdateSerializer, responses=s.TemplateOutputSerializer)
    def patch(self, request, template_id):
        template = _template(self, template_id)
        data = s.TemplateUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.template_update(
            template=template, actor=Actor.from_request(request), **data.validated_data
        )
        return Response(s.TemplateOutputSerializer(_annotated(self, template_id)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, template_id):
        services.template_delete(
            template=_template(self, template_id), actor=Actor.from_request(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class VersionListView(mixins.ListModelMixin, OrganizationGenericAPIView):
    api_scope = "prompts"
    serializer_class = s.VersionWithUsageSerializer

    def get_queryset(self):
        return selectors.version_list(template=_template(self, self.kwargs["template_id"]))

    @extend_schema(operation_id="prompts_versions_list")
    def get(self, request, template_id):
        return self.list(request)

    @extend_schema(request=s.VersionCreateSerializer, responses={201: s.VersionOutputSerializer})
    def post(self, request, template_id):
        template = _template(self, template_id)
        data = s.VersionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.version_create(
            template=template,
            user=request.user,
            actor=Actor.from_request(request),
            **data.validated_data,
        )
        return Response(s.VersionOutputSerializer(version).data, status=201)


class VersionDetailView(OrganizationAPIView):
    api_scope = "prompts"

    @extend_schema(responses=s.VersionOutputSerializer)
    def get(self, request, template_id, number):
        template = _template(self, template_id)
        return Response(
            s.VersionOutputSerializer(selectors.version_get(template=template, number=number)).data
        )


class VersionPublishView(OrganizationAPIView):
    """Publish a version: a newer one, or an older one (rollback)."""

    api_scope = "prompts"

    @extend_schema(request=None, responses=s.TemplateOutputSerializer)
    def post(self, request, template_id, number):
        template = _template(self, template_id)
        version = selectors.version_get(template=template, number=number)
        services.version_publish(version=version, actor=Actor.from_request(request))
        return Response(s.TemplateOutputSerializer(_annotated(self, template_id)).data)


class RenderView(OrganizationAPIView):
    """Render a version (the published one by default) with values: the text, or field
    errors naming each missing, unknown or mistyped variable."""

    api_scopes = {"POST": "prompts:read"}

    @extend_schema(request=s.RenderInputSerializer, responses=s.RenderOutputSerializer)
    def post(self, request, template_id):
        template = _template(self, template_id)
        data = s.RenderInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        number = data.validated_data.get("version")
        if number is None:
            version = template.published_version
            if version is None:
                raise NotFound("This template has no published version.")
        else:
            version = selectors.version_get(template=template, number=number)
        text = services.version_render(version=version, values=data.validated_data["values"])
        if data.validated_data.get("record_use"):
            services.use_record(version=version, source=UseSource.CHAT)
        return Response(s.RenderOutputSerializer({"text": text, "version": version.number}).data)


class PreviewView(OrganizationAPIView):
    """Render an unsaved body (the editor's live preview): the same checks as saving
    and rendering, nothing stored."""

    api_scopes = {"POST": "prompts:read"}

    @extend_schema(request=s.PreviewInputSerializer, responses=s.RenderOutputSerializer)
    def post(self, request):
        data = s.PreviewInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        variables = rendering.check_variables(data.validated_data["variables"])
        rendering.check_body(data.validated_data["body"], variables)
        text = rendering.render_prompt(
            body=data.validated_data["body"],
            variables=variables,
            values=data.validated_data["values"],
        )
        return Response(s.RenderOutputSerializer({"text": text, "version": None}).data)


class DiffView(OrganizationAPIView):
    api_scope = "prompts"

    @extend_schema(
        parameters=[
            OpenApiParameter("from_version", int, required=True),
            OpenApiParameter("to_version", int, required=True),
        ],
        responses=s.DiffOutputSerializer,
    )
    def get(self, request, template_id):
        template = _template(self, template_id)
        query = s.DiffQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        try:
            old = selectors.version_get(
                template=template, number=query.validated_data["from_version"]
            )
            new = selectors.version_get(
                template=template, number=query.validated_data["to_version"]
            )
        except ObjectDoesNotExist:
            raise NotFound("No such version.") from None
        return Response(s.DiffOutputSerializer(selectors.version_diff(old=old, new=new)).data)


class ExportView(OrganizationAPIView):
    api_scope = "prompts"

    @extend_schema(responses=s.ExportSerializer)
    def get(self, request, template_id):
        template = _template(self, template_id)
        return Response(s.ExportSerializer(services.template_export(template=template)).data)


class TemplateImportView(OrganizationAPIView):
    api_scopes = {"POST": "prompts:write"}

    @extend_schema(request=s.ImportInputSerializer, responses={201: s.TemplateOutputSerializer})
    def post(self, request):
        data = s.ImportInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        template = services.template_import(
            data=data.validated_data["template"],
            user=request.user,
            actor=Actor.from_request(request),
        )
        return Response(s.TemplateOutputSerializer(_annotated(self, template.pk)).data, status=201)

"""Workflows, runs, approvals, secrets and the inbound webhook: thin views."""

import time

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.response import Response

from audit.services import Actor
from core.access import Role, Scope
from core.api.views import OrganizationAPIView, OrganizationGenericAPIView, PublicAPIView
from workflows import selectors, services
from workflows.api import serializers as s
from workflows.models import RunStatus, Trigger

WAIT_POLL_SECONDS = 0.2


def _run_detail(run):
    run = selectors.run_list().prefetch_related("steps").get(pk=run.pk)
    return s.RunDetailSerializer(run).data


class WorkflowListView(mixins.ListModelMixin, OrganizationGenericAPIView):
    api_scope = "workflows"
    serializer_class = s.WorkflowOutputSerializer

    def get_queryset(self):
        query = s.WorkflowQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.workflow_list(**query.validated_data)

    @extend_schema(operation_id="workflows_list", parameters=[OpenApiParameter("search", str)])
    def get(self, request):
        return self.list(request)

    @extend_schema(request=s.WorkflowCreateSerializer, responses={201: s.WorkflowCreatedSerializer})
    def post(self, request):
        data = s.WorkflowCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        workflow, secret = services.workflow_create(
            user=request.user, actor=Actor.from_request(request), **data.validated_data
        )
        workflow.webhook_secret = secret
        return Response(s.WorkflowCreatedSerializer(workflow).data, status=201)


class WorkflowDetailView(OrganizationAPIView):
    api_scope = "workflows"

    @extend_schema(responses=s.WorkflowOutputSerializer)
    def get(self, request, workflow_id):
        return Response(
            s.WorkflowOutputSerializer(selectors.workflow_get(workflow_id=workflow_id)).data
        )

    @extend_schema(request=s.WorkflowUpdateSerializer, responses=s.WorkflowOutputSerializer)
    def patch(self, request, workflow_id):
        workflow = selectors.workflow_get(workflow_id=workflow_id)
        data = s.WorkflowUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        workflow = services.workflow_update(
            workflow=workflow, actor=Actor.from_request(request), **data.validated_data
        )
        return Response(s.WorkflowOutputSerializer(workflow).data)

    @extend_schema(responses={204: None})
    def delete(self, request, workflow_id):
        services.workflow_delete(
            workflow=selectors.workflow_get(workflow_id=workflow_id),
            actor=Actor.from_request(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class WorkflowPublishView(OrganizationAPIView):
    """Check the draft (every problem a field error, ``steps.N.field``) and publish it."""

    api_scope = "workflows"

    @extend_schema(request=s.PublishSerializer, responses={201: s.VersionSerializer})
    def post(self, request, workflow_id):
        workflow = selectors.workflow_get(workflow_id=workflow_id)
        data = s.PublishSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.workflow_publish(
            workflow=workflow,
            user=request.user,
            actor=Actor.from_request(request),
            **data.validated_data,
        )
        return Response(s.VersionSerializer(version).data, status=201)


class WorkflowVersionListView(mixins.ListModelMixin, OrganizationGenericAPIView):
    api_scope = "workflows"
    serializer_class = s.VersionSerializer

    def get_queryset(self):
        workflow = selectors.workflow_get(workflow_id=self.kwargs["workflow_id"])
        return selectors.version_list(workflow=workflow)

    @extend_schema(operation_id="workflows_versions_list")
    def get(self, request, workflow_id):
        return self.list(request)


class WorkflowRunsView(mixins.ListModelMixin, OrganizationGenericAPIView):
    """A workflow's runs; POST starts one (``?wait=`` seconds: answer when it ended,
    or waits for approval, or the time is up; it runs on either way)."""

    api_scope = "workflows"
    serializer_class = s.RunOutputSerializer

    def get_queryset(self):
        workflow = selectors.workflow_get(workflow_id=self.kwargs["workflow_id"])
        return selectors.run_list(workflow=workflow)

    @extend_schema(operation_id="workflows_runs_list")
    def get(self, request, workflow_id):
        return self.list(request)

    @extend_schema(
        request=s.RunStartSerializer,
        parameters=[OpenApiParameter("wait", float)],
        responses={201: s.RunDetailSerializer},
    )
    def post(self, request, workflow_id):
        workflow = selectors.workflow_get(workflow_id=workflow_id)
        query = s.RunStartQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = s.RunStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        trigger = Trigger.API if self.caller.api_key is not None else Trigger.MANUAL
        with transaction.atomic():
            run = services.run_start(
                workflow=workflow,
                trigger=trigger,
                input=data.validated_data["input"],
                user=request.user,
            )
        deadline = time.monotonic() + query.validated_data["wait"]
        while time.monotonic() < deadline:
            run.refresh_from_db(fields=["status"])
            if run.finished or run.status == RunStatus.WAITING:
                break
            time.sleep(WAIT_POLL_SECONDS)
        return Response(_run_detail(run), status=201)


class WebhookSecretView(OrganizationAPIView):
    """A new secret for the workflow's inbound webhook (shown once; the old one stops)."""

    required_roles = {"POST": Role.ADMIN}
    api_scopes = {"POST": Scope.ADMIN}

    @extend_schema(request=None, responses=s.WebhookSecretSerializer)
    def post(self, request, workflow_id):
        workflow = selectors.workflow_get(workflow_id=workflow_id)
        secret = services.webhook_secret_rotate(
            workflow=workflow, actor=Actor.from_request(request)
        )
        return Response(s.WebhookSecretSerializer({"webhook_secret": secret}).data)


class RunListView(mixins.ListModelMixin, OrganizationGenericAPIView):
    api_scope = "workflows"
    serializer_class = s.RunOutputSerializer

    def get_queryset(self):
        query = s.RunQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        runs = selectors.run_list(status=query.validated_data["status"])
        if query.validated_data["workflow"]:
            runs = runs.filter(workflow_id=query.validated_data["workflow"])
        return runs

    @extend_schema(
        operation_id="workflow_runs_list",
        parameters=[
            OpenApiParameter("status", enum=RunStatus.values),
            OpenApiParameter("workflow", str),
        ],
    )
    def get(self, request):
        return self.list(request)


class RunDetailView(OrganizationAPIView):
    """A run with every step's input, output, error, attempts, time, tokens and cost."""

    api_scope = "workflows"

    @extend_schema(responses=s.RunDetailSerializer)
    def get(self, request, run_id):
        return Response(_run_detail(selectors.run_get(run_id=run_id)))


class RunCancelView(OrganizationAPIView):
    api_scopes = {"POST": "workflows:write"}

    @extend_schema(request=None, responses=s.RunDetailSerializer)
    def post(self, request, run_id):
        run = services.run_cancel(
            run=selectors.run_get(run_id=run_id), actor=Actor.from_request(request)
        )
        return Response(_run_detail(run))


class RunRerunView(OrganizationAPIView):
    """A new run from the failed step (the steps before it are copied, not re-run)."""

    api_scopes = {"POST": "workflows:write"}

    @extend_schema(request=None, responses={201: s.RunDetailSerializer})
    def post(self, request, run_id):
        run = services.run_rerun(
            run=selectors.run_get(run_id=run_id),
            user=request.user,
            actor=Actor.from_request(request),
        )
        return Response(_run_detail(run), status=201)


class RunApproveView(OrganizationAPIView):
    api_scopes = {"POST": "workflows:write"}
    approve = True

    @extend_schema(request=s.DecisionSerializer, responses=s.RunDetailSerializer)
    def post(self, request, run_id):
        data = s.DecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.approval_decide(
            run=selectors.run_get(run_id=run_id),
            approve=self.approve,
            user=request.user,
            actor=Actor.from_request(request),
            **data.validated_data,
        )
        return Response(_run_detail(run))


class RunRejectView(RunApproveView):
    approve = False


class SecretListView(mixins.ListModelMixin, OrganizationGenericAPIView):
    """Values http_request steps send as ``secret:NAME`` headers; admins only, and the
    value is never returned."""

    required_roles = {"GET": Role.ADMIN, "POST": Role.ADMIN}
    api_scopes = {"GET": Scope.ADMIN, "POST": Scope.ADMIN}
    serializer_class = s.SecretOutputSerializer

    def get_queryset(self):
        return selectors.secret_list()

    @extend_schema(operation_id="workflow_secrets_list")
    def get(self, request):
        return self.list(request)

    @extend_schema(request=s.SecretInputSerializer, responses={201: s.SecretOutputSerializer})
    def post(self, request):
        data = s.SecretInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        secret = services.secret_save(
            user=request.user, actor=Actor.from_request(request), **data.validated_data
        )
        return Response(s.SecretOutputSerializer(secret).data, status=201)


class SecretDetailView(OrganizationAPIView):
    required_roles = {"DELETE": Role.ADMIN}
    api_scopes = {"DELETE": Scope.ADMIN}

    @extend_schema(responses={204: None})
    def delete(self, request, secret_id):
        services.secret_delete(
            secret=selectors.secret_get(secret_id=secret_id), actor=Actor.from_request(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookView(PublicAPIView):
    """Inbound webhook of a workflow (on the organization's host): headers
    ``Webhook-Id``, ``Webhook-Timestamp`` (Unix seconds) and ``Webhook-Signature``
    (``sha256=`` HMAC-SHA256 hex of ``id.timestamp.body`` with the workflow's secret).
    A bad signature or an old timestamp: 401; an id seen before (replay): 409."""

    def initial(self, request, *args, **kwargs):
        self.raw_body = request._request.body  # before DRF parses it: the signed bytes
        super().initial(request, *args, **kwargs)

    @extend_schema(
        request={"application/json": dict},
        parameters=[
            OpenApiParameter("Webhook-Id", str, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("Webhook-Timestamp", str, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("Webhook-Signature", str, OpenApiParameter.HEADER, required=True),
        ],
        responses={202: s.WebhookAcceptedSerializer},
    )
    def post(self, request, workflow_id):
        with transaction.atomic():
            run = services.webhook_receive(
                workflow_id=workflow_id,
                delivery_id=request.headers.get("Webhook-Id", ""),
                timestamp=request.headers.get("Webhook-Timestamp", ""),
                signature=request.headers.get("Webhook-Signature", ""),
                body=self.raw_body,
                payload=request.data,
            )
        return Response(
            s.WebhookAcceptedSerializer({"run_id": run.pk, "status": run.status}).data, status=202
        )


class NotifyDestinationListView(mixins.ListModelMixin, OrganizationGenericAPIView):
    """Slack channels and Teams conversations a notify step may post to (the bots of the
    organization's installed integrations are in them)."""

    api_scope = "workflows"
    serializer_class = s.NotifyDestinationSerializer

    def get_queryset(self):
        query = s.NotifyDestinationQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.notify_destinations(target=query.validated_data["target"])

    @extend_schema(
        operation_id="workflow_notify_destinations_list",
        parameters=[OpenApiParameter("target", enum=["slack", "teams"])],
    )
    def get(self, request):
        return self.list(request)

"""Reads of workflows, runs and step runs."""

from django.db.models import QuerySet

from core import notifications
from core.lookups import parse_uuid
from core.tenancy import current_organization, require_tenant_schema
from workflows.models import Workflow, WorkflowRun, WorkflowSecret, WorkflowVersion


def workflow_list(*, search: str = "") -> QuerySet[Workflow]:
    require_tenant_schema()
    workflows = Workflow.objects.select_related("published_version")
    if search:
        workflows = workflows.filter(name__icontains=search)
    return workflows


def workflow_get(*, workflow_id) -> Workflow:
    return workflow_list().get(id=parse_uuid(workflow_id))


def version_list(*, workflow: Workflow) -> QuerySet[WorkflowVersion]:
    return workflow.versions.order_by("-number")


def run_list(*, workflow: Workflow | None = None, status: str = "") -> QuerySet[WorkflowRun]:
    require_tenant_schema()
    runs = WorkflowRun.objects.select_related("workflow", "version")
    if workflow is not None:
        runs = runs.filter(workflow=workflow)
    if status:
        runs = runs.filter(status=status)
    return runs


def run_get(*, run_id) -> WorkflowRun:
    return run_list().get(id=parse_uuid(run_id))


def secret_list() -> QuerySet[WorkflowSecret]:
    require_tenant_schema()
    return WorkflowSecret.objects.all()


def secret_get(*, secret_id) -> WorkflowSecret:
    return secret_list().get(id=parse_uuid(secret_id))


def notify_destinations(*, target: str = "") -> list[notifications.Destination]:
    """Where this organization's notify steps may post: the channels of its installed
    Slack and Teams integrations (from the apps that registered them), by target."""
    organization = current_organization()
    kinds = [target] if target else notifications.kinds()
    found: list[notifications.Destination] = []
    for kind in kinds:
        try:
            channel = notifications.channel_for(kind)
        except LookupError:
            continue
        found += channel.destinations(organization=organization)
    return found

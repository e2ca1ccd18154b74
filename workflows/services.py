"""Writes of workflows: drafts, publishing, starting runs (every trigger), cancelling,
re-running from a failed step, deciding approvals, secrets."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets as pysecrets
import time
import zoneinfo
from datetime import datetime, timedelta

from celery import current_app
from croniter import croniter
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from assistants import selectors as assistant_selectors
from audit.models import AuditAction
from audit.services import Actor, audit_record, field_changes
from core import crypto, notifications
from core.errors import Conflict, NotAuthenticated, NotFound, ValidationFailed
from core.lookups import parse_uuid, person
from core.tenancy import current_organization, require_tenant_schema
from knowledge_base import selectors as knowledge_selectors
from prompts import rendering
from prompts import selectors as prompt_selectors
from prompts.models import PromptTemplate
from workflows import definition as definitions
from workflows.models import (
    STEP_DONE,
    RunStatus,
    StepStatus,
    Trigger,
    Workflow,
    WorkflowRun,
    WorkflowSecret,
    WorkflowStepRun,
    WorkflowVersion,
)

logger = logging.getLogger(__name__)
RUN_TASK = "workflows.run_advance"
SECRET_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
EMPTY_DRAFT = {"steps": [], "settings": {}, "input_schema": [], "triggers": {}}


def _enqueue(run: WorkflowRun) -> None:
    """Queue the run's task after commit (by name: tasks.py builds on this module). A
    broker away at that moment leaves the run queued; the beat sweep sends it later."""
    run_id = str(run.pk)

    def send() -> None:
        try:
            current_app.send_task(RUN_TASK, args=[run_id])
        except Exception:
            logger.exception("workflow run %s stored but its task could not be queued", run_id)

    transaction.on_commit(send)


# -- workflows -----------------------------------------------------------------------


def _check_draft(draft) -> dict:
    if draft is None:
        return dict(EMPTY_DRAFT)
    if not isinstance(draft, dict):
        raise ValidationFailed(fields={"draft": ["An object is required."]})
    unknown = set(draft) - set(EMPTY_DRAFT)
    if unknown:
        raise ValidationFailed(fields={f"draft.{n}": ["Unknown field."] for n in sorted(unknown)})
    if not isinstance(draft.get("steps", []), list) or len(draft.get("steps", [])) > 50:
        raise ValidationFailed(fields={"draft.steps": ["A list of at most 50 steps."]})
    return {**EMPTY_DRAFT, **draft}


@transaction.atomic
def workflow_create(
    *, user, name: str, description: str = "", draft=None, actor: Actor | None = None
) -> tuple[Workflow, str]:
    """A workflow and its webhook secret (returned once, stored encrypted)."""
    require_tenant_schema()
    if not name.strip():
        raise ValidationFailed(fields={"name": ["A name is required."]})
    secret = pysecrets.token_urlsafe(32)
    workflow = Workflow.objects.create(
        name=name.strip(),
        description=description,
        draft=_check_draft(draft),
        webhook_secret_encrypted=crypto.encrypt(secret),
        created_by=person(user),
    )
    audit_record(
        actor=actor,
        action=AuditAction.WORKFLOW_CREATED,
        target=workflow,
        changes={"name": [None, workflow.name]},
    )
    return workflow, secret


@transaction.atomic
def workflow_update(*, workflow: Workflow, actor: Actor | None = None, **fields) -> Workflow:
    """Name, description, enabled and the draft; the published version is unchanged."""
    allowed = {"name", "description", "draft", "is_enabled"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationFailed(fields={n: ["Unknown field."] for n in sorted(unknown)})
    if "name" in fields and not str(fields["name"]).strip():
        raise ValidationFailed(fields={"name": ["A name is required."]})
    if "draft" in fields:
        fields["draft"] = _check_draft(fields["draft"])
    before = {
        "name": workflow.name,
        "description": workflow.description,
        "is_enabled": workflow.is_enabled,
    }
    for name, value in fields.items():
        setattr(workflow, name, value)
    if "is_enabled" in fields:
        _apply_triggers(workflow)
    workflow.save()
    changes = field_changes(
        before,
        {
            "name": workflow.name,
            "description": workflow.description,
            "is_enabled": workflow.is_enabled,
        },
    )
    if "draft" in fields:
        changes["draft"] = ["…", "changed"]
    if changes:
        audit_record(
            actor=actor, action=AuditAction.WORKFLOW_UPDATED, target=workflow, changes=changes
        )
    return workflow


@transaction.atomic
def workflow_delete(*, workflow: Workflow, actor: Actor | None = None) -> None:
    if workflow.runs.filter(
        status__in=[RunStatus.RUNNING, RunStatus.QUEUED, RunStatus.WAITING]
    ).exists():
        raise Conflict("Cancel the workflow's unfinished runs first.", code="runs_unfinished")
    audit_record(actor=actor, action=AuditAction.WORKFLOW_DELETED, target=workflow)
    WorkflowStepRun.objects.filter(run__workflow=workflow).delete()
    WorkflowRun.objects.filter(workflow=workflow).delete()
    workflow.delete()


@transaction.atomic
def webhook_secret_rotate(*, workflow: Workflow, actor: Actor | None = None) -> str:
    secret = pysecrets.token_urlsafe(32)
    workflow.webhook_secret_encrypted = crypto.encrypt(secret)
    workflow.save(update_fields=["webhook_secret_encrypted", "updated_at"])
    audit_record(
        actor=actor,
        action=AuditAction.WORKFLOW_UPDATED,
        target=workflow,
        changes={"webhook_secret": ["…", "rotated"]},
    )
    return secret


def _pin_references(checked: dict) -> dict:
    """Check what the steps name exists, and pin each prompt step to a template version
    (the one named, else the one published now): a version runs what was published."""
    problems: dict[str, list[str]] = {}
    for index, step in enumerate(checked["steps"]):
        where = f"steps.{index}"
        try:
            if step.get("assistant_id"):
                assistant_selectors.assistant_get(assistant_id=step["assistant_id"])
        except ObjectDoesNotExist:
            problems[f"{where}.assistant_id"] = ["Unknown assistant."]
        try:
            if step.get("collection_ids"):
                knowledge_selectors.collections_by_ids(ids=step["collection_ids"])
            if step.get("collection_id"):
                knowledge_selectors.collection_get(collection_id=step["collection_id"])
        except ObjectDoesNotExist:
            field = "collection_ids" if step.get("collection_ids") else "collection_id"
            problems[f"{where}.{field}"] = ["Unknown collection."]
        if step["type"] == "notify" and (step.get("target") or "email") != "email":
            problems.update(_notify_target_problems(step, where))
        if step["type"] != "prompt":
            continue
        try:
            template = PromptTemplate.objects.get(pk=step["template_id"])
            version = (
                prompt_selectors.version_get(template=template, number=step["version"])
                if step.get("version")
                else template.published_version
            )
            if version is None:
                raise ObjectDoesNotExist
        except (ObjectDoesNotExist, ValueError):
            problems[f"{where}.template_id"] = ["Unknown template, or it has no such version."]
            continue
        step["version_id"] = str(version.pk)
        step["version"] = version.number
        declared = {v["name"] for v in version.variables}
        for name in set(step.get("values") or {}) - declared:
            problems[f"{where}.values.{name}"] = [f"The template has no variable '{name}'."]
        for variable in version.variables:
            if (
                variable["required"]
                and variable["default"] is None
                and variable["name"] not in (step.get("values") or {})
            ):
                problems[f"{where}.values.{variable['name']}"] = ["This variable is required."]
        if not (step.get("model") or step.get("assistant_id") or version.model_hints.get("model")):
            problems[f"{where}.model"] = ["Choose a model (the template hints none)."]
    if problems:
        raise ValidationFailed("The workflow is not valid.", fields=problems)
    return checked


def _notify_target_problems(step: dict, where: str) -> dict[str, list[str]]:
    """A Slack or Teams target must be an integration installed in this organization
    and a channel its bot is in (asked of the app that registered the kind)."""
    try:
        channel = notifications.channel_for(step["target"])
    except LookupError:
        return {f"{where}.target": [f"{step['target']} notifications are not available here."]}
    problems = channel.check(
        organization=current_organization(),
        integration_id=step["integration_id"],
        channel_id=step["channel_id"],
    )
    return {f"{where}.{name}": [message] for name, message in problems.items()}


def _apply_triggers(workflow: Workflow) -> None:
    """Mirror the published version's triggers on the workflow row (indexed lookups)."""
    triggers = (
        workflow.published_version.definition.get("triggers", {})
        if workflow.published_version_id
        else {}
    )
    schedule = triggers.get("schedule") or {}
    enabled = workflow.is_enabled and workflow.published_version_id is not None
    workflow.schedule_cron = schedule.get("cron", "") if enabled else ""
    workflow.schedule_timezone = schedule.get("timezone", "UTC") if schedule else ""
    workflow.next_run_at = (
        next_fire(workflow.schedule_cron, workflow.schedule_timezone, timezone.now())
        if workflow.schedule_cron
        else None
    )
    workflow.event_types = list(triggers.get("events") or []) if enabled else []


def next_fire(cron: str, tz: str, after: datetime) -> datetime:
    """The next time ``cron`` fires after ``after``, read in the time zone ``tz``."""
    local = after.astimezone(zoneinfo.ZoneInfo(tz or "UTC"))
    return croniter(cron, local).get_next(datetime).astimezone(zoneinfo.ZoneInfo("UTC"))


@transaction.atomic
def workflow_publish(*, workflow: Workflow, user, note: str = "", actor: Actor | None = None):
    """Check the draft whole (every problem a field error) and save it as a new version."""
    workflow = Workflow.objects.select_for_update().get(pk=workflow.pk)
    checked = _pin_references(definitions.check_definition(workflow.draft))
    number = (workflow.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    version = WorkflowVersion.objects.create(
        workflow=workflow,
        number=number,
        definition=checked,
        note=(note or "")[:300],
        created_by=person(user),
    )
    before = workflow.published_version.number if workflow.published_version_id else None
    workflow.published_version = version
    _apply_triggers(workflow)
    workflow.save()
    audit_record(
        actor=actor,
        action=AuditAction.WORKFLOW_PUBLISHED,
        target=workflow,
        changes={"published_version": [before, number]},
    )
    return version


# -- runs ----------------------------------------------------------------------------


def _deadline(version: WorkflowVersion) -> datetime:
    seconds = version.definition.get("settings", {}).get(
        "run_timeout_seconds", settings.WORKFLOW_RUN_TIMEOUT_SECONDS
    )
    return timezone.now() + timedelta(seconds=min(seconds, settings.WORKFLOW_RUN_TIMEOUT_SECONDS))


@transaction.atomic
def run_start(
    *,
    workflow: Workflow,
    trigger: str,
    input: dict | None = None,
    user=None,
    trigger_ref: str = "",
    version: WorkflowVersion | None = None,
) -> WorkflowRun:
    """A run of the published version (or ``version``), its input checked against the
    input schema (field errors ``input.<name>``), queued after commit. A second start
    with the same ``trigger_ref`` (event, schedule time, webhook delivery) is refused."""
    require_tenant_schema()
    version = version or workflow.published_version
    if version is None:
        raise Conflict("Publish the workflow before running it.", code="not_published")
    if trigger == Trigger.EVENT:
        typed = dict(input or {})  # {"event": {...}}: the platform's, not the schema's
    else:
        typed = rendering.coerce_values(
            version.definition.get("input_schema", []), input or {}, field="input"
        )
        typed = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in typed.items()}
    try:
        with transaction.atomic():
            run = WorkflowRun.objects.create(
                workflow=workflow,
                version=version,
                trigger=trigger,
                trigger_ref=trigger_ref[:120],
                input=typed,
                created_by=person(user),
                deadline_at=_deadline(version),
            )
    except IntegrityError:
        raise Conflict("This trigger already started a run.", code="duplicate_trigger") from None
    _enqueue(run)
    return run


@transaction.atomic
def run_cancel(*, run: WorkflowRun, actor: Actor | None = None) -> WorkflowRun:
    """Stop a run: no further step starts (a step in flight finishes and is recorded)."""
    from workflows.executor import run_finish

    run = WorkflowRun.objects.select_for_update().get(pk=run.pk)
    if run.finished:
        raise Conflict("This run has already finished.", code="run_finished")
    WorkflowStepRun.objects.filter(run=run, status=StepStatus.WAITING).update(
        status=StepStatus.FAILED, error="Cancelled.", finished_at=timezone.now()
    )
    run = run_finish(run=run, status=RunStatus.CANCELLED, error="Cancelled.")
    audit_record(
        actor=actor,
        action=AuditAction.WORKFLOW_RUN_CANCELLED,
        target=run.workflow,
        changes={"run": [None, str(run.pk)]},
    )
    return run


@transaction.atomic
def run_rerun(*, run: WorkflowRun, user, actor: Actor | None = None) -> WorkflowRun:
    """A new run of the same version and input that starts at the failed step: the
    steps before it are copied (outputs included), never executed again."""
    if run.status not in (RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.CANCELLED):
        raise Conflict(
            "Only a failed, timed out or cancelled run can be re-run.", code="run_not_failed"
        )
    new = WorkflowRun.objects.create(
        workflow=run.workflow,
        version=run.version,
        trigger=Trigger.RERUN,
        input=run.input,
        rerun_of=run,
        created_by=person(user),
        deadline_at=_deadline(run.version),
    )
    for step in run.steps.order_by("index"):
        if step.status not in STEP_DONE:
            break
        WorkflowStepRun.objects.create(
            run=new,
            index=step.index,
            key=step.key,
            type=step.type,
            status=StepStatus.COPIED if step.status != StepStatus.SKIPPED else StepStatus.SKIPPED,
            input=step.input,
            output=step.output,
            idempotency_key=step.idempotency_key,
            started_at=step.started_at,
            finished_at=step.finished_at,
        )
    _enqueue(new)
    return new


@transaction.atomic
def approval_decide(*, run: WorkflowRun, approve: bool, user, comment: str = "", actor=None):
    step = (
        WorkflowStepRun.objects.select_for_update()
        .filter(run=run, status=StepStatus.WAITING)
        .first()
    )
    if step is None:
        raise Conflict("This run is not waiting for an approval.", code="not_waiting")
    from workflows.executor import run_finish

    step.decided_by = person(user)
    step.finished_at = timezone.now()
    step.output = {
        **step.output,
        "approved": approve,
        "comment": comment[:500],
        "decided_by": getattr(person(user), "email", ""),
    }
    if approve:
        step.status = StepStatus.SUCCEEDED
        step.save()
        WorkflowRun.objects.filter(pk=run.pk).update(status=RunStatus.QUEUED)
        _enqueue(run)
    else:
        step.status = StepStatus.FAILED
        step.error = "Rejected." + (f" {comment[:200]}" if comment else "")
        step.save()
        run_finish(run=run, status=RunStatus.FAILED, error=f"{step.key}: rejected")
    audit_record(
        actor=actor,
        action=AuditAction.WORKFLOW_APPROVAL_DECIDED,
        target=run.workflow,
        changes={"run": [None, str(run.pk)], "approved": [None, approve]},
    )
    run.refresh_from_db()
    return run


# -- triggers ------------------------------------------------------------------------


def webhook_signature(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    message = f"{delivery_id}.{timestamp}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def webhook_receive(
    *, workflow_id, delivery_id: str, timestamp: str, signature: str, body: bytes, payload
) -> WorkflowRun:
    """An inbound webhook: the signature (HMAC-SHA256 of ``id.timestamp.body`` with the
    workflow's secret) and a recent timestamp are required; a delivery id seen before is
    refused (replay). Nothing is written unless all hold."""
    try:
        workflow = Workflow.objects.select_related("published_version").get(
            pk=parse_uuid(workflow_id)
        )
    except ObjectDoesNotExist:
        raise NotFound() from None
    triggers = (
        workflow.published_version.definition.get("triggers", {})
        if workflow.published_version_id
        else {}
    )
    if not (workflow.is_enabled and triggers.get("webhook")):
        raise NotFound()
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError):
        raise NotAuthenticated(
            "Missing or malformed webhook timestamp.", code="bad_signature"
        ) from None
    if abs(time.time() - sent_at) > settings.WORKFLOW_WEBHOOK_TOLERANCE_SECONDS:
        raise NotAuthenticated("The webhook timestamp is too old.", code="bad_signature")
    if not delivery_id or len(delivery_id) > 100:
        raise NotAuthenticated("A webhook id is required.", code="bad_signature")
    expected = webhook_signature(
        crypto.decrypt(workflow.webhook_secret_encrypted), delivery_id, timestamp, body
    )
    if not hmac.compare_digest(expected, signature or ""):
        raise NotAuthenticated("The webhook signature does not match.", code="bad_signature")
    if not isinstance(payload, dict):
        payload = {"body": payload}
    return run_start(
        workflow=workflow,
        trigger=Trigger.WEBHOOK,
        input=payload,
        trigger_ref=f"webhook:{delivery_id}",
    )


def schedules_start_due(now: datetime | None = None) -> int:
    """Start every workflow whose schedule is due (this organization's schema); each due
    time starts one run even if two sweeps race (the row lock and the run's trigger_ref)."""
    now = now or timezone.now()
    started = 0
    for workflow_id in Workflow.objects.filter(next_run_at__lte=now).values_list("id", flat=True)[
        :200
    ]:
        with transaction.atomic():
            workflow = (
                Workflow.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(pk=workflow_id, next_run_at__lte=now)
                .select_related("published_version")
                .first()
            )
            if workflow is None or not workflow.schedule_cron:
                continue
            due = workflow.next_run_at
            workflow.next_run_at = next_fire(
                workflow.schedule_cron, workflow.schedule_timezone, now
            )
            workflow.save(update_fields=["next_run_at"])
            try:
                run_start(
                    workflow=workflow,
                    trigger=Trigger.SCHEDULE,
                    input={},
                    trigger_ref=f"schedule:{due.isoformat()}",
                )
                started += 1
            except (Conflict, ValidationFailed):
                pass  # already started for that time, or the input schema needs values
    return started


def event_start_runs(*, event_type: str, events: list[tuple[str, dict]]) -> int:
    """A run of each listening workflow for each event ((id, payload)); the workflows are
    looked up once for all of them."""
    started = 0
    workflows = list(
        Workflow.objects.filter(
            event_types__contains=[event_type], is_enabled=True, published_version__isnull=False
        ).select_related("published_version")
    )
    for workflow in workflows:
        for event_id, payload in events:
            try:
                run_start(
                    workflow=workflow,
                    trigger=Trigger.EVENT,
                    input={"event": {"type": event_type, "id": event_id, **payload}},
                    trigger_ref=f"event:{event_id}",
                )
                started += 1
            except (Conflict, ValidationFailed):
                continue
    return started


# -- secrets -------------------------------------------------------------------------


@transaction.atomic
def secret_save(*, name: str, value: str, user, actor: Actor | None = None) -> WorkflowSecret:
    if not isinstance(name, str) or not SECRET_NAME_RE.match(name):
        raise ValidationFailed(fields={"name": ["Letters, digits and _ only."]})
    if not value:
        raise ValidationFailed(fields={"value": ["A value is required."]})
    secret, _ = WorkflowSecret.objects.update_or_create(
        name=name,
        defaults={
            "value_encrypted": crypto.encrypt(value),
            "last4": value[-4:] if len(value) >= 8 else "",
            "created_by": person(user),
        },
    )
    audit_record(actor=actor, action=AuditAction.WORKFLOW_SECRET_SAVED, target=secret)
    return secret


@transaction.atomic
def secret_delete(*, secret: WorkflowSecret, actor: Actor | None = None) -> None:
    audit_record(actor=actor, action=AuditAction.WORKFLOW_SECRET_DELETED, target=secret)
    secret.delete()

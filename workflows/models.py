"""Workflows, their immutable versions, runs and step runs (each organization's schema)."""

import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models

from core.lookups import user_reference


class Workflow(models.Model):
    """A workflow: a draft being edited and, once published, the version that runs.

    The trigger columns (schedule, events, webhook) mirror the published version's
    triggers so beat and the event subscriber find due workflows with one indexed query.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=120)
    description = models.CharField(max_length=500, blank=True)
    # {"steps": [...], "settings": {...}, "input_schema": [...], "triggers": {...}}
    draft = models.JSONField(default=dict, blank=True)
    published_version = models.ForeignKey(
        "WorkflowVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_enabled = models.BooleanField(default=True)
    schedule_cron = models.CharField(max_length=120, blank=True)
    schedule_timezone = models.CharField(max_length=64, blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)
    event_types = ArrayField(models.CharField(max_length=60), default=list, blank=True)
    webhook_secret_encrypted = models.TextField(blank=True)
    created_by = user_reference()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class WorkflowVersion(models.Model):
    """Saved once at publish, never changed; a run records the version it ran."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    note = models.CharField(max_length=300, blank=True)
    created_by = user_reference()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["workflow", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "number"], name="workflow_version_number")
        ]

    def __str__(self) -> str:
        return f"{self.workflow.name} v{self.number}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("A workflow version is immutable: publish a new version instead.")
        super().save(*args, **kwargs)

    @property
    def steps(self) -> list[dict]:
        return self.definition.get("steps", [])


class Trigger(models.TextChoices):
    MANUAL = "manual", "Manual"
    API = "api", "API"
    SCHEDULE = "schedule", "Schedule"
    WEBHOOK = "webhook", "Webhook"
    EVENT = "event", "Platform event"
    RERUN = "rerun", "Re-run"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    WAITING = "waiting_approval", "Waiting for approval"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    TIMED_OUT = "timed_out", "Timed out"


FINISHED = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.TIMED_OUT)


class WorkflowRun(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="runs")
    version = models.ForeignKey(WorkflowVersion, on_delete=models.PROTECT, related_name="runs")
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.QUEUED)
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    # What started it, unique per workflow and trigger: an event id, a schedule's due
    # time, a webhook delivery id. A second start for the same reference is refused.
    trigger_ref = models.CharField(max_length=120, blank=True)
    input = models.JSONField(default=dict, blank=True)
    output = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=1000, blank=True)
    rerun_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns"
    )
    created_by = user_reference()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True)
    # One worker advances a run at a time: the delivery holding the lease.
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True, db_index=True)
    # When a failed attempt's retry is due (backoff); the task is queued for then.
    retry_at = models.DateTimeField(null=True, blank=True)
    total_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=8, default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "trigger", "trigger_ref"],
                condition=~models.Q(trigger_ref=""),
                name="workflow_run_trigger_once",
            )
        ]
        indexes = [models.Index(fields=["status", "lease_until"])]

    def __str__(self) -> str:
        return f"{self.workflow.name} run {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


class StepStatus(models.TextChoices):
    RUNNING = "running", "Running"
    RETRYING = "retrying", "Waiting to retry"
    WAITING = "waiting", "Waiting for approval"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    COPIED = "copied", "Copied from the run it re-runs"


STEP_DONE = (StepStatus.SUCCEEDED, StepStatus.SKIPPED, StepStatus.COPIED)


class WorkflowStepRun(models.Model):
    """One step of one run. Written (``running``) before the step's work starts and
    finished before the next step starts, so a run resumes at its first unfinished step."""

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(WorkflowRun, on_delete=models.CASCADE, related_name="steps")
    index = models.PositiveSmallIntegerField()
    key = models.CharField(max_length=64)
    type = models.CharField(max_length=20)
    status = models.CharField(max_length=12, choices=StepStatus.choices)
    input = models.JSONField(default=dict, blank=True)
    output = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=1000, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Sent with the step's side effect (http_request header, notify Message-ID): the
    # same on every attempt, so a receiver can tell a retry from a new request.
    idempotency_key = models.CharField(max_length=120)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    wait_until = models.DateTimeField(null=True, blank=True)
    decided_by = user_reference()
    tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=8, default=0)

    class Meta:
        ordering = ["run", "index"]
        constraints = [
            models.UniqueConstraint(fields=["run", "index"], name="workflow_step_run_once")
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.status})"

    @property
    def duration_ms(self) -> int | None:
        if self.started_at and self.finished_at:
            return int((self.finished_at - self.started_at).total_seconds() * 1000)
        return None


class WorkflowSecret(models.Model):
    """A value an http_request step may send (``secret:NAME`` in a header), encrypted at
    rest; never in a workflow's body, a step's recorded input or the API's answers."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=64, unique=True)
    value_encrypted = models.TextField()
    last4 = models.CharField(max_length=4, blank=True)
    created_by = user_reference()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

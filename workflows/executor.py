"""The durable executor: advances one run, step by step, so that a run killed at any
point resumes where it stopped and never repeats a finished step.

The protocol (docs/workflows.md, ADR 0032):

1. ``run_advance`` takes the run's lease (one worker advances a run at a time; a
   delivery of the same task takes it over at once, any other only after it expired)
   and a slot of the organization's concurrency limit (an advisory lock serialises the
   count), or defers.
2. For the first step not done: its ``WorkflowStepRun`` row is written ``running``
   with one more attempt, and committed, before the step's work starts.
3. The step's output (or error) is written and committed before the next step starts.
   A step found ``running`` when a run resumes was interrupted: it is attempted again
   with the same idempotency key (sent with http_request and notify), so a receiver
   can recognise the retry; a finished step is never run again.
4. A failure that may pass (a timeout, a 5xx, a provider hiccup) is retried with
   exponential backoff (the task is queued for later, the lease released); the last
   failure fails the run. Cancellation and the run's deadline are checked between steps.
"""

from __future__ import annotations

import json
import logging
import zlib
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from core import events
from core.tenancy import current_organization, require_tenant_schema
from workflows import steps as step_types
from workflows.definition import DEFAULT_RETRIES
from workflows.models import (
    FINISHED,
    STEP_DONE,
    RunStatus,
    StepStatus,
    WorkflowRun,
    WorkflowStepRun,
)

logger = logging.getLogger(__name__)
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_MAX_SECONDS = 60.0
RETRY_AFTER_MAX_SECONDS = 300.0  # a longer Retry-After than this waits this long
# Steps with no effect outside the database and no cost: their output is committed with
# the next step's start (one commit per step). The others commit their output at once.
LOCAL_STEPS = frozenset({"transform", "condition"})


class Outcome:
    FINISHED = "finished"
    DEFERRED = "deferred"  # the organization is at its limit: queue again soon
    RETRY = "retry"  # a step failed and waits for its backoff
    WAITING = "waiting"  # an approval
    BUSY = "busy"  # another worker holds the run


def _lease_seconds() -> int:
    return settings.WORKFLOW_STEP_LEASE_SECONDS


DEFERRED = object()  # _claim's answer when the organization is at its limit


def _claim(run_id, owner: str):
    """Take the run's lease and a concurrency slot, or None (busy, full or finished)."""
    now = timezone.now()
    with transaction.atomic():
        # One count at a time per organization, so the limit is exact under a burst.
        key = zlib.crc32(f"workflow-slots:{connection.schema_name}".encode())
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])
        run = WorkflowRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.finished or run.status == RunStatus.WAITING:
            return None
        held = run.lease_until and run.lease_until > now and run.lease_owner != owner
        if held:
            return None
        running = (
            WorkflowRun.objects.filter(status=RunStatus.RUNNING, lease_until__gt=now)
            .exclude(pk=run.pk)
            .count()
        )
        if running >= settings.WORKFLOW_MAX_CONCURRENT_RUNS:
            return DEFERRED
        run.status = RunStatus.RUNNING
        run.lease_owner = owner
        run.lease_until = now + timedelta(seconds=_lease_seconds())
        run.retry_at = None
        if run.started_at is None:
            run.started_at = now
        run.save(update_fields=["status", "lease_owner", "lease_until", "retry_at", "started_at"])
        return run


def _release(run: WorkflowRun, **fields) -> None:
    WorkflowRun.objects.filter(pk=run.pk).update(lease_owner="", lease_until=None, **fields)


def run_finish(*, run: WorkflowRun, status: str, error: str = "", output=None) -> WorkflowRun:
    """Store a run's end (once) and announce it (``workflow.run.finished``)."""
    with transaction.atomic():
        run = WorkflowRun.objects.select_for_update().get(pk=run.pk)
        if run.finished:
            return run
        run.status = status
        run.error = error[:1000]
        run.finished_at = timezone.now()
        run.lease_owner, run.lease_until = "", None
        if output is not None:
            run.output = output
        run.save()
        events.event_emit(
            type="workflow.run.finished",
            payload={
                "workflow_id": str(run.workflow_id),
                "run_id": str(run.pk),
                "status": status,
            },
        )
    return run


def _context(run: WorkflowRun, done: list[WorkflowStepRun]) -> dict:
    return {
        "input": run.input,
        "steps": {s.key: s.output for s in done if s.status != StepStatus.SKIPPED},
        "run": {
            "id": str(run.pk),
            "started_at": run.started_at.isoformat() if run.started_at else "",
            "trigger": run.trigger,
        },
    }


_STEP_START_SQL = """
    INSERT INTO workflows_workflowsteprun
        (run_id, index, key, type, status, input, output, error, attempts, idempotency_key,
         started_at, tokens, cost)
    VALUES (%s, %s, %s, %s, 'running', '{}', '{}', '', 1, %s, %s, 0, 0)
    ON CONFLICT (run_id, index) DO UPDATE SET
        status = 'running',
        attempts = workflows_workflowsteprun.attempts + 1,
        error = '',
        started_at = COALESCE(workflows_workflowsteprun.started_at, EXCLUDED.started_at)
    RETURNING id, attempts, started_at, input, output
"""


def _step_start(run: WorkflowRun, index: int, step: dict) -> WorkflowStepRun:
    """Write the step run ``running`` with one more attempt, committed, before any work:
    one statement (an insert, or the update of the row a killed attempt left)."""
    key = f"wf-{run.pk}-{step['key']}"
    with connection.cursor() as cursor:
        cursor.execute(
            _STEP_START_SQL, [run.pk, index, step["key"], step["type"], key, timezone.now()]
        )
        row = cursor.fetchone()
    return _step_run_from_row(run, index, step, key, row)


_LEASE_AND_START_SQL = """
    WITH {finished}lease AS (
        UPDATE workflows_workflowrun SET lease_until = %s
        WHERE id = %s AND lease_owner = %s AND status = 'running'
        RETURNING id
    )
    INSERT INTO workflows_workflowsteprun
        (run_id, index, key, type, status, input, output, error, attempts, idempotency_key,
         started_at, tokens, cost)
    SELECT lease.id, %s, %s, %s, 'running', '{{}}', '{{}}', '', 1, %s, %s, 0, 0 FROM lease
    ON CONFLICT (run_id, index) DO UPDATE SET
        status = 'running',
        attempts = workflows_workflowsteprun.attempts + 1,
        error = '',
        started_at = COALESCE(workflows_workflowsteprun.started_at, EXCLUDED.started_at)
    RETURNING id, attempts, started_at, input, output
"""
_FINISHED_CTE = """finished AS (
        UPDATE workflows_workflowsteprun
        SET status = 'succeeded', output = %s::jsonb, input = %s::jsonb, finished_at = %s
        WHERE id = %s
    ), """


def _step_next(run: WorkflowRun, owner: str, index: int, step: dict, previous=None):
    """In ONE statement (one round trip, one commit): write the previous local step's
    output (``previous``: its step run, finished in memory), renew the run's lease, and
    write this step ``running`` with one more attempt. None when the lease is no longer
    ours (the run was cancelled or taken over): nothing started, the previous output is
    still written. Under load a round trip to PostgreSQL costs more than a render, so the
    durable protocol's price per step is its number of statements."""
    now = timezone.now()
    key = f"wf-{run.pk}-{step['key']}"
    params: list = []
    if previous is not None:
        params = [
            json.dumps(previous.output),
            json.dumps(previous.input),
            previous.finished_at,
            previous.pk,
        ]
    params += [
        now + timedelta(seconds=_lease_seconds()),
        run.pk,
        owner,
        index,
        step["key"],
        step["type"],
        key,
        now,
    ]
    sql = _LEASE_AND_START_SQL.format(finished=_FINISHED_CTE if previous is not None else "")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    return _step_run_from_row(run, index, step, key, row)


def _step_run_from_row(run, index: int, step: dict, key: str, row) -> WorkflowStepRun:
    pk, attempts, started_at, recorded_input, output = row
    # jsonb comes back from a raw cursor as text (Django leaves JSON to its fields)
    recorded_input, output = (
        json.loads(value) if isinstance(value, str) else value for value in (recorded_input, output)
    )
    step_run = WorkflowStepRun(
        pk=pk,
        run=run,
        index=index,
        key=step["key"],
        type=step["type"],
        status=StepStatus.RUNNING,
        attempts=attempts,
        idempotency_key=key,
        started_at=started_at,
        input=recorded_input if isinstance(recorded_input, dict) else {},
        output=output if isinstance(output, dict) else {},
    )
    step_run._state.adding = False
    return step_run


def _step_succeeded(run, step_run, result: step_types.StepResult) -> None:
    """Write a step's output (or an approval's wait) and add its usage to the run's
    totals. Run inside the caller's transaction when there is one (the executor commits
    it together with the next step's start: one commit per step)."""
    with transaction.atomic(savepoint=False):
        step_run.status = StepStatus.WAITING if result.wait else StepStatus.SUCCEEDED
        step_run.output = result.output
        step_run.input = result.recorded_input
        step_run.tokens = result.tokens
        step_run.cost = result.cost or Decimal("0")
        if result.wait:
            hours = float(step_run_definition(run, step_run.index).get("timeout_hours") or 72)
            step_run.wait_until = timezone.now() + timedelta(hours=hours)
        else:
            step_run.finished_at = timezone.now()
        # only the fields a step's end changes (a whole-row save rewrites every column)
        WorkflowStepRun.objects.filter(pk=step_run.pk).update(
            status=step_run.status,
            output=step_run.output,
            input=step_run.input,
            tokens=step_run.tokens,
            cost=step_run.cost,
            wait_until=step_run.wait_until,
            finished_at=step_run.finished_at,
        )
        if step_run.tokens or step_run.cost:
            WorkflowRun.objects.filter(pk=run.pk).update(
                total_tokens=F("total_tokens") + step_run.tokens,
                cost=F("cost") + step_run.cost,
            )


def step_run_definition(run: WorkflowRun, index: int) -> dict:
    return run.version.steps[index]


def _skip(run: WorkflowRun, index: int, step: dict) -> None:
    WorkflowStepRun.objects.get_or_create(
        run=run,
        index=index,
        defaults={
            "key": step["key"],
            "type": step["type"],
            "status": StepStatus.SKIPPED,
            "idempotency_key": f"wf-{run.pk}-{step['key']}",
            "finished_at": timezone.now(),
        },
    )


def _backoff(attempt: int) -> float:
    return min(BACKOFF_BASE_SECONDS * 2 ** max(attempt - 1, 0), BACKOFF_MAX_SECONDS)


def run_advance(*, run_id, owner: str) -> tuple[str, float]:
    """Advance the run as far as it goes now. Returns what happened and, for a retry or
    a deferral, in how many seconds to try again."""
    require_tenant_schema()
    run = _claim(run_id, owner)
    if run is DEFERRED:
        return Outcome.DEFERRED, settings.WORKFLOW_REQUEUE_SECONDS
    if run is None:
        return Outcome.BUSY, 0.0
    organization = current_organization()
    definition = run.version.steps
    done = {s.index: s for s in run.steps.all()}
    # A finished step's output is committed together with the next step's start (and the
    # lease renewal): one commit per step instead of three, and still each step's row is
    # committed, finished, before the next step's work starts. Every other way out of the
    # loop writes it first.
    pending: WorkflowStepRun | None = None

    def write_pending() -> None:
        nonlocal pending
        if pending is not None:
            _step_succeeded(
                run,
                pending,
                step_types.StepResult(output=pending.output, recorded_input=pending.input),
            )
            pending = None

    index = 0
    while index < len(definition):
        step = definition[index]
        existing = done.get(index)
        if existing is not None and existing.status in STEP_DONE:
            index += 1
            continue
        if existing is not None and existing.status == StepStatus.FAILED:
            write_pending()
            run_finish(run=run, status=RunStatus.FAILED, error=f"{step['key']}: {existing.error}")
            return Outcome.FINISHED, 0.0
        if run.deadline_at and timezone.now() > run.deadline_at:
            with transaction.atomic():
                write_pending()
                run_finish(
                    run=run,
                    status=RunStatus.TIMED_OUT,
                    error="The run took longer than its time limit.",
                )
            return Outcome.FINISHED, 0.0
        step_run = _step_next(run, owner, index, step, previous=pending)
        pending = None  # written by that statement
        if step_run is None:  # cancelled, or taken over: stop here
            return Outcome.BUSY, 0.0
        context = step_types.StepContext(
            organization=organization,
            user=run.created_by,
            run=run,
            step_run=step_run,
            values=_context(run, [done[i] for i in sorted(done)]),
        )
        try:
            result = step_types.RUNNERS[step["type"]](step, context)
        except step_types.StepFailed as failure:
            return _step_failed(run, step, step_run, failure)
        except Exception as error:  # a defect: recorded, never retried in a loop
            logger.exception("workflow step %s of run %s crashed", step["key"], run.pk)
            return _step_failed(
                run,
                step,
                step_run,
                step_types.StepFailed(f"Internal error: {type(error).__name__}"),
            )
        done[index] = step_run
        if result.wait:
            _step_succeeded(run, step_run, result)
            _release(run, status=RunStatus.WAITING)
            return Outcome.WAITING, 0.0
        if result.goto is not None:
            target = (
                len(definition)
                if result.goto == "end"
                else next(i for i, s in enumerate(definition) if s["key"] == result.goto)
            )
            with transaction.atomic():
                _step_succeeded(run, step_run, result)
                for skipped in range(index + 1, target):
                    _skip(run, skipped, definition[skipped])
                    done[skipped] = WorkflowStepRun(
                        key=definition[skipped]["key"], status=StepStatus.SKIPPED, output={}
                    )
            index = target
            continue
        if step["type"] in LOCAL_STEPS and not (result.tokens or result.cost):
            # in memory now, in the database with the next step's start (or the run's end)
            step_run.status, step_run.output = StepStatus.SUCCEEDED, result.output
            step_run.input, step_run.finished_at = result.recorded_input, timezone.now()
            pending = step_run
        else:  # an effect or a cost outside: recorded on its own, at once
            _step_succeeded(run, step_run, result)
        index += 1
    last = next(
        (
            done[i]
            for i in sorted(done, reverse=True)
            if done[i].status in STEP_DONE and done[i].status != StepStatus.SKIPPED
        ),
        None,
    )
    with transaction.atomic():
        write_pending()
        run_finish(run=run, status=RunStatus.SUCCEEDED, output=last.output if last else {})
    return Outcome.FINISHED, 0.0


def _step_failed(run, step: dict, step_run: WorkflowStepRun, failure) -> tuple[str, float]:
    retries = step.get("retries", DEFAULT_RETRIES.get(step["type"], 0))
    now = timezone.now()
    if failure.retryable and step_run.attempts <= retries:
        delay = _backoff(step_run.attempts)
        if getattr(failure, "retry_after", None):  # the provider said how long (a 429)
            delay = min(max(delay, float(failure.retry_after)), RETRY_AFTER_MAX_SECONDS)
        WorkflowStepRun.objects.filter(pk=step_run.pk).update(
            status=StepStatus.RETRYING, error=failure.message[:1000]
        )
        _release(run, retry_at=now + timedelta(seconds=delay))
        return Outcome.RETRY, delay
    WorkflowStepRun.objects.filter(pk=step_run.pk).update(
        status=StepStatus.FAILED, error=failure.message[:1000], finished_at=now
    )
    run_finish(run=run, status=RunStatus.FAILED, error=f"{step['key']}: {failure.message}")
    return Outcome.FINISHED, 0.0


# -- sweeps (beat) -------------------------------------------------------------------


def runs_stalled() -> list:
    """Runs whose worker died (lease expired while running), runs queued whose task was
    lost, and retries that are due: their ids, to queue again."""
    now = timezone.now()
    stale_queue = now - timedelta(seconds=max(_lease_seconds(), 60))
    return list(
        WorkflowRun.objects.filter(
            Q(status=RunStatus.RUNNING, lease_until__lt=now)
            | Q(
                status=RunStatus.RUNNING,
                lease_until__isnull=True,
                retry_at__lt=now - timedelta(seconds=30),
            )
            | Q(status=RunStatus.QUEUED, created_at__lt=stale_queue, lease_until__isnull=True)
        ).values_list("id", flat=True)[:500]
    )


def runs_timeout() -> int:
    count = 0
    for run in WorkflowRun.objects.filter(
        status__in=[RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING],
        deadline_at__lt=timezone.now(),
    )[:500]:
        run_finish(
            run=run, status=RunStatus.TIMED_OUT, error="The run took longer than its time limit."
        )
        count += 1
    return count


def approvals_expire() -> int:
    count = 0
    for step_run in WorkflowStepRun.objects.filter(
        status=StepStatus.WAITING, wait_until__lt=timezone.now()
    ).select_related("run")[:500]:
        with transaction.atomic():
            updated = WorkflowStepRun.objects.filter(
                pk=step_run.pk, status=StepStatus.WAITING
            ).update(
                status=StepStatus.FAILED,
                error="Nobody approved before the timeout.",
                finished_at=timezone.now(),
            )
            if updated:
                run_finish(
                    run=step_run.run,
                    status=RunStatus.FAILED,
                    error=f"{step_run.key}: nobody approved before the timeout.",
                )
                count += 1
    return count


__all__ = ["FINISHED", "Outcome", "run_advance", "run_finish"]

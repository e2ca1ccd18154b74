"""Workflow tasks: thin; the executor lives in workflows.executor."""

from celery import shared_task
from django.conf import settings
from django_tenants.utils import schema_context

from core.tasks import TenantTask
from workflows import executor, services


@shared_task(name="workflows.run_advance", base=TenantTask, bind=True, acks_late=True)
def workflow_run_advance_task(self, run_id: str) -> str:
    """Advance a run as far as it goes. Safe to deliver twice: the run's lease lets one
    delivery work at a time, and a redelivery of the same task (its worker died) takes
    the lease over at once."""
    owner = self.request.id or f"eager-{run_id}"
    outcome, delay = executor.run_advance(run_id=run_id, owner=owner)
    if outcome in (executor.Outcome.DEFERRED, executor.Outcome.RETRY) and not self.request.is_eager:
        self.apply_async((run_id,), countdown=delay)
    return outcome


@shared_task(name="workflows.tick", acks_late=True)
def workflows_tick_task() -> dict:
    """Beat: in every organization's schema, start due schedules, queue stalled runs
    again, fail expired approvals and time out overdue runs. Safe to run twice."""
    from users.models import Organization

    totals = {"scheduled": 0, "requeued": 0, "timed_out": 0, "expired": 0}
    for schema in Organization.objects.exclude(schema_name=settings.PUBLIC_SCHEMA_NAME).values_list(
        "schema_name", flat=True
    ):
        with schema_context(schema):
            totals["scheduled"] += services.schedules_start_due()
            totals["timed_out"] += executor.runs_timeout()
            totals["expired"] += executor.approvals_expire()
            for run_id in executor.runs_stalled():
                workflow_run_advance_task.delay(str(run_id))
                totals["requeued"] += 1
    return totals

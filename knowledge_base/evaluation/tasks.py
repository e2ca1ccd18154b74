"""Evaluation tasks: thin (load by id, call one service), safe to run twice. Registered
by knowledge_base/apps.py (Celery's autodiscovery reads only ``knowledge_base.tasks``)."""

from celery import shared_task

from core.tasks import TenantTask
from core.tenancy import current_organization
from knowledge_base.evaluation.runs import (
    evaluation_run_execute,
    evaluation_runs_recover_everywhere,
)


@shared_task(name="knowledge_base.evaluation_run", base=TenantTask, bind=True, acks_late=True)
def evaluation_run_task(self, run_id: str) -> dict:
    """Run one retrieval evaluation. Safe to run twice: the run is claimed under a lease
    owned by this delivery, and each finished (mode, top_k) result is kept."""
    run = evaluation_run_execute(
        run_id=run_id,
        owner=self.request.id or f"eager:{run_id}",
        organization=current_organization(),
    )
    return {"status": run.status if run else "skipped"}


@shared_task(name="knowledge_base.evaluation_runs_recover_stalled", acks_late=True)
def evaluation_runs_recover_stalled_task() -> dict:
    """Beat, with the documents' sweep: runs whose worker died or whose task was lost are
    queued again (bounded), then failed with the reason."""
    return evaluation_runs_recover_everywhere(
        requeue=lambda run_id: evaluation_run_task.delay(run_id)
    )

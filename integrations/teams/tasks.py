"""The Teams answering task: thin; the answering lives in integrations/teams/answer.py."""

from celery import shared_task

from core.tasks import TenantTask
from integrations import bots
from integrations.teams.answer import teams_answer


@shared_task(name="integrations.teams_answer", base=TenantTask, acks_late=True)
def teams_answer_task(event_id: str) -> str:
    """Answer a stored Teams activity. Safe to run twice: the event is claimed first."""
    event = bots.event_claim_here(event_id=event_id)
    if event is None:
        return "already answered"
    try:
        outcome = teams_answer(event=event)
    except Exception:
        bots.event_done(event=event, status="failed")
        bots.problem_record(
            integration=event.integration,
            kind="answer_failed",
            message="An answer could not be sent to Teams (see the server log).",
        )
        raise
    bots.event_done(event=event, status="answered" if outcome == "answered" else "failed")
    return outcome

"""The Slack answering task: thin; the answering lives in integrations/slack/answer.py."""

from celery import shared_task

from core.tasks import TenantTask
from integrations import bots
from integrations.slack.answer import slack_answer


@shared_task(name="integrations.slack_answer", base=TenantTask, acks_late=True)
def slack_answer_task(event_id: str) -> str:
    """Answer a stored Slack event. Safe to run twice: the event is claimed first."""
    event = bots.event_claim_here(event_id=event_id)
    if event is None:
        return "already answered"
    try:
        outcome = slack_answer(event=event)
    except Exception:
        bots.event_done(event=event, status="failed")
        bots.problem_record(
            integration=event.integration,
            kind="answer_failed",
            message="An answer could not be posted to Slack (see the server log).",
        )
        raise
    bots.event_done(event=event, status="answered" if outcome == "answered" else "failed")
    return outcome

"""The Bolt app: request signing, url_verification and authorization are Bolt's; our
listeners store each event once and hand the answer to a Celery task, so Slack gets its
200 in milliseconds (it retries after 3 seconds).

``process_before_response=True``: the listener (a row and a queued task, no Slack or AI
call) runs before the response, so an event is never acknowledged before it is safely
stored and queued.
"""

from __future__ import annotations

import logging
import re
from functools import cache

from django.conf import settings
from django_tenants.utils import tenant_context
from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient

from core import crypto
from integrations import bots
from integrations.models import IntegrationProvider
from integrations.slack.client import web_client
from integrations.slack.store import installation_store

logger = logging.getLogger(__name__)

SLACK = IntegrationProvider.SLACK
# Messages that are not someone asking: edits, deletions, joins, the bot's own posts.
_IGNORED_SUBTYPES = {
    "bot_message",
    "message_changed",
    "message_deleted",
    "channel_join",
    "channel_leave",
    "thread_broadcast",
}


def _authorize(enterprise_id, team_id, context, is_enterprise_install=None):
    """Find the workspace's organization (public schema only) and its bot token."""
    keys = [enterprise_id, team_id] if is_enterprise_install else [team_id, enterprise_id]
    integration = bots.route_find(provider=SLACK, keys=keys)
    if integration is None or not integration.token_encrypted:
        return None
    context["integration"] = integration
    details = integration.details
    return AuthorizeResult(
        enterprise_id=enterprise_id,
        team_id=team_id,
        bot_token=crypto.decrypt(integration.token_encrypted),
        bot_user_id=details.get("bot_user_id"),
        bot_id=details.get("bot_id"),
    )


def _enqueue(integration, event) -> None:
    from integrations.slack.tasks import slack_answer_task

    with tenant_context(integration.organization):
        slack_answer_task.delay(str(event.pk))


def _is_question(integration, event: dict) -> bool:
    """app_mention: always. message: a direct message, or a reply in a thread the bot
    already answers in (a mention there comes as app_mention too: answered once)."""
    if event.get("bot_id") or event.get("subtype") in _IGNORED_SUBTYPES:
        return False
    if event.get("user") == integration.details.get("bot_user_id"):
        return False
    if event["type"] == "app_mention":
        return True
    if event.get("channel_type") == "im":
        return True
    thread_ts = event.get("thread_ts")
    mention = f"<@{integration.details.get('bot_user_id')}>"
    if not thread_ts or mention in (event.get("text") or ""):
        return False
    key = f"{event.get('channel')}:{thread_ts}"
    return bots.thread_session_id(integration=integration, key=key) is not None


def on_question(body, event, context):
    integration = context.get("integration")
    if integration is None:
        return
    question = _is_question(integration, event)
    if question:  # the bot is in this channel: a place notify steps may post to
        bots.channel_seen(
            integration=integration,
            channel_id=event.get("channel", ""),
            kind=event.get("channel_type") or "channel",
        )
    if not question:
        return
    stored = bots.event_receive(
        integration=integration,
        delivery_id=body.get("event_id") or f"{event.get('channel')}:{event.get('ts')}",
        kind=event["type"],
        summary=f"{event['type']} in {event.get('channel')} from {event.get('user')}",
        payload=event,
    )
    if stored is not None:  # None: a retry or a duplicate, already queued once
        _enqueue(integration, stored)


def on_member_joined(event, context):
    """The bot was added to a channel: a place workflows' notify steps may post to
    (Bolt keeps this one of the bot's own events)."""
    integration = context.get("integration")
    if integration is None or event.get("user") != integration.details.get("bot_user_id"):
        return
    bots.channel_seen(
        integration=integration,
        channel_id=event.get("channel", ""),
        kind={"C": "channel", "G": "group"}.get(event.get("channel_type", ""), "channel"),
    )


def on_uninstalled(body, context):
    """app_uninstalled / tokens_revoked: routing and token removed."""
    installation_store.delete_installation(
        enterprise_id=body.get("enterprise_id") or context.enterprise_id,
        team_id=body.get("team_id") or context.team_id,
    )


def on_feedback(ack, body, action, context):
    ack()
    integration = context.get("integration")
    if integration is None:
        return
    rating = 1 if action["action_id"] == "feedback_up" else -1
    recorded = bots.feedback_record(
        integration=integration, message_id=action.get("value", ""), rating=rating
    )
    if recorded:
        client = web_client(context.bot_token)
        channel = (body.get("channel") or {}).get("id")
        user = (body.get("user") or {}).get("id")
        if channel and user:
            client.chat_postEphemeral(
                channel=channel,
                user=user,
                thread_ts=(body.get("message") or {}).get("thread_ts"),
                text="Thanks, your feedback is recorded."
                if rating > 0
                else "Thanks, noted. The team will look at this answer.",
            )


def on_ask_command(ack, body, context):
    """``/ask <question>``: acknowledged at once; the answer starts a thread."""
    question = (body.get("text") or "").strip()
    if not question:
        ack("Ask a question after /ask, e.g. `/ask what is our refund policy?`")
        return
    ack()
    integration = context.get("integration")
    if integration is None:
        return
    event = {
        "type": "slash_command",
        "channel": body.get("channel_id"),
        "user": body.get("user_id"),
        "text": question,
        "command": True,
    }
    stored = bots.event_receive(
        integration=integration,
        delivery_id=f"command:{body.get('trigger_id')}",
        kind="slash_command",
        summary=f"/ask in {body.get('channel_id')} from {body.get('user_id')}",
        payload=event,
    )
    if stored is not None:
        _enqueue(integration, stored)


SUGGESTED_PROMPTS = [
    {"title": "What can you do?", "message": "What can you help me with?"},
    {"title": "Find a policy", "message": "Where can I find our policies?"},
    {"title": "Summarize", "message": "Summarize what you know about this topic:"},
]


def on_assistant_thread_started(event, context):
    """Slack's assistant side panel opened: suggested prompts (the answers come as
    direct messages in that thread, like any DM)."""
    integration = context.get("integration")
    thread = (event or {}).get("assistant_thread") or {}
    if integration is None or not thread.get("channel_id"):
        return
    web_client(context.bot_token).assistant_threads_setSuggestedPrompts(
        channel_id=thread["channel_id"],
        thread_ts=thread.get("thread_ts"),
        title="Ask about your organization's knowledge",
        prompts=SUGGESTED_PROMPTS,
    )


@cache
def _app(signing_secret: str, api_base: str) -> App:
    app = App(
        signing_secret=signing_secret,
        authorize=_authorize,
        client=WebClient(base_url=api_base),
        process_before_response=True,
        # Our authorize reads our own rows; Bolt's per-request auth.test is not needed.
        token_verification_enabled=False,
        ssl_check_enabled=True,
        url_verification_enabled=True,
        logger=logger,
    )
    app.event("app_mention")(on_question)
    app.event("message")(on_question)
    app.event("assistant_thread_started")(on_assistant_thread_started)
    app.event("member_joined_channel")(on_member_joined)
    app.event("app_uninstalled")(on_uninstalled)
    app.event("tokens_revoked")(on_uninstalled)
    app.action(re.compile(r"^feedback_(up|down)$"))(on_feedback)
    app.command("/ask")(on_ask_command)
    return app


def bolt_app() -> App:
    return _app(settings.SLACK_SIGNING_SECRET or "unset", settings.SLACK_API_BASE)

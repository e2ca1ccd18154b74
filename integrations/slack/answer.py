"""Answering one Slack question in its thread (run by a Celery task).

The thread is one chat session; its earlier messages (other people's too) become the
session's context when the bot joins a thread late. The answer streams with Slack's
streaming methods (chat.startStream / appendStream / stopStream, through slack-sdk's
``chat_stream``), ends with its sources as links to the dashboard and thumbs buttons.
Misconfiguration and failures get a clear reply in the thread and an entry on the
Integrations page.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time

from django.conf import settings
from slack_sdk.errors import SlackApiError

from core import crypto
from integrations import bots
from integrations.models import IntegrationEvent
from integrations.slack.client import web_client

logger = logging.getLogger(__name__)

_MENTION = re.compile(r"<@[A-Z0-9]+>")


def _question(text: str) -> str:
    return _MENTION.sub("", text or "").strip()


def _email_of(client, user_id: str) -> str | None:
    try:
        profile = client.users_info(user=user_id)["user"].get("profile") or {}
    except SlackApiError:
        return None
    return profile.get("email")


def _thread_context(client, *, channel: str, thread_ts: str, before_ts: str, bot_user_id: str):
    """The thread's earlier messages, oldest first, as "name: text" lines."""

    def load() -> list[str]:
        try:
            replies = client.conversations_replies(channel=channel, ts=thread_ts, limit=50)
        except SlackApiError:
            return []
        lines = []
        for message in replies.get("messages", []):
            if float(message.get("ts", 0)) >= float(before_ts):
                continue
            if message.get("bot_id") or message.get("user") == bot_user_id:
                continue
            text = _question(message.get("text", ""))
            if text:
                lines.append(f"<@{message.get('user')}>: {text}")
        return lines

    return load


def answer_blocks(answer: bots.Answer) -> list[dict]:
    blocks: list[dict] = []
    if answer.citations:
        links = "  ".join(f"<{c['url']}|[{c['index']}] {c['title']}>" for c in answer.citations)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": links}]})
    if answer.message_id:
        blocks.append(
            {
                "type": "actions",
                "block_id": "feedback",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "feedback_up",
                        "text": {"type": "plain_text", "text": ":+1:", "emoji": True},
                        "value": answer.message_id,
                    },
                    {
                        "type": "button",
                        "action_id": "feedback_down",
                        "text": {"type": "plain_text", "text": ":-1:", "emoji": True},
                        "value": answer.message_id,
                    },
                ],
            }
        )
    return blocks


def slack_answer(*, event: IntegrationEvent) -> str:
    integration = event.integration
    payload = event.payload
    client = web_client(crypto.decrypt(integration.token_encrypted))
    channel = payload["channel"]
    user_id = payload.get("user", "")
    bot_user_id = integration.details.get("bot_user_id", "")
    if payload.get("command"):
        # /ask: the question is posted first; the answer is its thread.
        posted = client.chat_postMessage(
            channel=channel, text=f"<@{user_id}> asked: {payload['text']}"
        )
        ts = thread_ts = posted["ts"]
    else:
        ts = payload["ts"]
        thread_ts = payload.get("thread_ts") or ts
    question = _question(payload.get("text", ""))

    def say_problem(text: str, kind: str) -> str:
        client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text)
        bots.problem_record(integration=integration, kind=kind, message=text)
        return kind

    assistant_id = bots.assistant_for(integration=integration, channel_id=channel)
    if not assistant_id:
        return say_problem(bots.NO_ASSISTANT, "no_assistant")
    if not question:
        client.chat_postMessage(
            channel=channel, thread_ts=thread_ts, text="Ask me a question after the mention."
        )
        return "empty"
    user = bots.member_by_email(
        organization=integration.organization, email=_email_of(client, user_id)
    )
    # "is thinking…" under the thread while the turn is prepared (where Slack offers it).
    with contextlib.suppress(SlackApiError):
        client.assistant_threads_setStatus(
            channel_id=channel, thread_ts=thread_ts, status="is thinking…"
        )
    streamer = None
    last_flush = 0.0

    def on_delta(text: str) -> None:
        # The first words go out at once, then the SDK's buffer (SLACK_STREAM_BUFFER_CHARS)
        # batches appends, flushed at least every second so a slow answer still moves.
        nonlocal streamer, last_flush
        now = time.monotonic()
        force = streamer is None or now - last_flush >= 1.0
        if streamer is None:
            streamer = client.chat_stream(
                channel=channel,
                thread_ts=thread_ts,
                recipient_team_id=integration.details.get("team_id"),
                recipient_user_id=user_id,
                buffer_size=settings.SLACK_STREAM_BUFFER_CHARS,
            )
        if force:
            last_flush = now
            streamer.append(markdown_text=text, chunks=[])  # chunks given: flush now
        else:
            streamer.append(markdown_text=text)

    answer = bots.answer_run(
        integration=integration,
        assistant_id=assistant_id,
        question=question,
        user=user,
        thread_key=f"{channel}:{thread_ts}",
        context_messages=_thread_context(
            client, channel=channel, thread_ts=thread_ts, before_ts=ts, bot_user_id=bot_user_id
        ),
        on_delta=on_delta,
        channel="slack",
    )
    if answer.problem:
        if streamer is not None:
            streamer.stop(markdown_text=f"\n\n_{answer.problem}_")
            bots.problem_record(
                integration=integration, kind="answer_failed", message=answer.problem
            )
            return "failed"
        return say_problem(answer.problem, "answer_failed")
    blocks = answer_blocks(answer)
    if streamer is None:  # an empty answer: nothing was streamed
        client.chat_postMessage(
            channel=channel, thread_ts=thread_ts, text=answer.text or "…", blocks=blocks
        )
    else:
        streamer.stop(blocks=blocks)
    return "answered"

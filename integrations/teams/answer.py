"""Answering one Teams message in its conversation (run by a Celery task).

A personal chat, a group chat or a channel thread (its conversation id names the thread)
is one chat session. The reply goes through the Agents SDK's connector client to the
activity's serviceUrl, on a session that connects only to the address the outbound
policy checked (connector.py): a typing indicator, the answer posted at its first
words and updated as it grows (at most every TEAMS_UPDATE_INTERVAL seconds), and at the end its
sources as Teams citation entities plus an Adaptive Card with thumbs buttons, whose
submission comes back as a message activity recorded as the answer's feedback.
"""

from __future__ import annotations

import asyncio
import re
import time

from django.conf import settings
from microsoft_agents.activity import Activity, Attachment, Entity
from microsoft_agents.hosting.core.authorization import ClaimsIdentity
from microsoft_agents.hosting.core.authorization.authentication_constants import (
    AuthenticationConstants,
)

from integrations import bots
from integrations.models import IntegrationEvent
from integrations.teams.auth import IntegrationConnections
from integrations.teams.connector import connector_client

_AT = re.compile(r"<at>.*?</at>", re.S)


def _question(text: str) -> str:
    return _AT.sub("", text or "").strip()


def citation_entity(answer: bots.Answer) -> Entity:
    return Entity(
        type="https://schema.org/Message",
        **{
            "@type": "Message",
            "@context": "https://schema.org",
            "@id": "",
            "citation": [
                {
                    "@type": "Claim",
                    "position": c["index"],
                    "appearance": {
                        "@type": "DigitalDocument",
                        "name": c["title"][:80],
                        "url": c["url"],
                        "abstract": c["title"][:160],
                    },
                }
                for c in answer.citations
            ],
        },
    )


def feedback_card(answer: bots.Answer) -> Attachment:
    def button(title: str, rating: int) -> dict:
        return {
            "type": "Action.Submit",
            "title": title,
            "data": {"action": "feedback", "message_id": answer.message_id, "rating": rating},
        }

    sources = [
        {
            "type": "TextBlock",
            "wrap": True,
            "size": "Small",
            "text": f"[{c['index']}] [{c['title']}]({c['url']})",
        }
        for c in answer.citations
    ]
    return Attachment(
        content_type="application/vnd.microsoft.card.adaptive",
        content={
            "type": "AdaptiveCard",
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": "1.5",
            "body": sources or [{"type": "TextBlock", "text": "Was this helpful?"}],
            "actions": [button("👍", 1), button("👎", -1)],
        },
    )


def teams_answer(*, event: IntegrationEvent) -> str:
    integration = event.integration
    incoming = Activity.model_validate(event.payload["activity"])
    identity = ClaimsIdentity(event.payload.get("claims") or {}, True)
    provider = IntegrationConnections(integration).get_token_provider(
        identity, incoming.service_url
    )
    loop = asyncio.new_event_loop()
    run = loop.run_until_complete

    async def open_connector():
        # What the SDK's RestChannelServiceClientFactory does, on a session whose
        # connections go to the address the outbound policy checked (connector.py).
        token = await provider.get_access_token(
            AuthenticationConstants.AGENTS_SDK_SCOPE, identity.get_token_scope()
        )
        return connector_client(service_url=incoming.service_url, token=token)

    try:
        connector = run(open_connector())
    except BaseException:
        loop.close()
        raise
    conversation = incoming.conversation.id

    def reply(**fields) -> Activity:
        return Activity(
            type=fields.pop("type", "message"),
            conversation=incoming.conversation,
            from_property=incoming.recipient,
            recipient=incoming.from_property,
            reply_to_id=incoming.id,
            **fields,
        )

    def send(activity: Activity) -> str:
        return run(
            connector.conversations.reply_to_activity(conversation, incoming.id, activity)
        ).id

    def update(activity_id: str, activity: Activity) -> None:
        activity.id = activity_id
        run(connector.conversations.update_activity(conversation, activity_id, activity))

    try:
        channel_data = incoming.channel_data or {}
        if not isinstance(channel_data, dict):
            channel_data = channel_data.model_dump() if hasattr(channel_data, "model_dump") else {}
        channel_id = (channel_data.get("channel") or {}).get("id") or conversation
        assistant_id = bots.assistant_for(integration=integration, channel_id=channel_id)
        if not assistant_id:
            team_id = (channel_data.get("team") or {}).get("id")
            assistant_id = bots.assistant_for(integration=integration, channel_id=team_id or "")
        if not assistant_id:
            send(reply(text=bots.NO_ASSISTANT))
            bots.problem_record(
                integration=integration, kind="no_assistant", message=bots.NO_ASSISTANT
            )
            return "no_assistant"
        send(reply(type="typing"))
        member = run(
            connector.conversations.get_conversation_member(conversation, incoming.from_property.id)
        )
        email = getattr(member, "email", None) or getattr(member, "user_principal_name", None)
        user = bots.member_by_email(organization=integration.organization, email=email)
        state = {"id": None, "parts": [], "last": 0.0}

        def on_delta(text: str) -> None:
            state["parts"].append(text)
            now = time.monotonic()
            if state["id"] is None:
                state["id"] = send(reply(text="".join(state["parts"])))
                state["last"] = now
            elif now - state["last"] >= settings.TEAMS_UPDATE_INTERVAL:
                update(state["id"], reply(text="".join(state["parts"])))
                state["last"] = now

        answer = bots.answer_run(
            integration=integration,
            assistant_id=assistant_id,
            question=_question(incoming.text),
            user=user,
            thread_key=conversation,
            on_delta=on_delta,
            channel="teams",
        )
        if answer.problem:
            text = "".join(state["parts"]) + ("\n\n" if state["parts"] else "") + answer.problem
            if state["id"]:
                update(state["id"], reply(text=text))
            else:
                send(reply(text=text))
            bots.problem_record(
                integration=integration, kind="answer_failed", message=answer.problem
            )
            return "failed"
        final = reply(
            text=answer.text or "…",
            entities=[citation_entity(answer)] if answer.citations else None,
            attachments=[feedback_card(answer)],
        )
        if state["id"]:
            update(state["id"], final)
        else:
            send(final)
        return "answered"
    finally:
        run(connector.close())
        loop.close()

"""Slack and Teams as targets of a workflow's ``notify`` step, registered in
``core.notifications`` at ready() (workflows may not import this app).

A target is an installed integration of the organization and one of the channels its
bot is in (``IntegrationChannel``, recorded as events arrive). Sending goes through the
SDKs the bots use: slack-sdk's ``chat.postMessage``, and the Agents SDK's connector
client (``send_to_conversation``, a proactive message) on the outbound-policy session.

Never twice (docs/workflows.md): a Slack message carries the step run's idempotency key
in its message metadata; an attempt after one that may have posted looks for it in the
channel's history first and posts nothing when it is there. The Bot Framework offers no
such lookup, so for Teams an attempt after an interrupted send posts nothing again and
says the delivery is unconfirmed (at most once).
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.error import URLError

import aiohttp
from django.core.exceptions import ObjectDoesNotExist
from microsoft_agents.activity import Activity, ChannelAccount, ConversationAccount
from microsoft_agents.hosting.core.authorization.authentication_constants import (
    AuthenticationConstants,
)
from slack_sdk.errors import SlackApiError

from core import crypto, outbound
from core.lookups import parse_uuid
from core.notifications import Delivered, DeliveryFailed, Destination, Notification
from integrations.models import (
    Integration,
    IntegrationChannel,
    IntegrationProvider,
    IntegrationStatus,
)
from integrations.slack.client import web_client
from integrations.teams.auth import IntegrationConnections
from integrations.teams.connector import connector_client

METADATA_EVENT = "workflow_notify"
# One person's chat with the bot (a Slack DM, a Teams personal chat) is not a place other
# members may post to from a workflow: only shared channels and group chats are targets.
PRIVATE_KINDS = ("im", "personal")
MAX_TEXT = 3500  # Slack shows up to 4,000 characters of text; Teams accepts more
# Slack errors another attempt cannot fix: the step fails at once with the code named.
SLACK_PERMANENT = {
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "missing_scope",
    "restricted_action",
    "msg_too_long",
    "no_text",
    "invalid_blocks",
    "invalid_metadata_format",
    "ekm_access_denied",
}
SLACK_TRANSIENT = {"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                   "request_timeout"}  # fmt: skip


def _retry_after(headers) -> float | None:
    value = (headers or {}).get("Retry-After") or (headers or {}).get("retry-after")
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class _BotChannel:
    """What Slack and Teams share: the organization's installed integration and the
    channels its bot is in."""

    kind: str
    label: str
    provider: str

    def _integration(self, *, organization, integration_id) -> Integration | None:
        try:
            pk = parse_uuid(integration_id)
        except ObjectDoesNotExist:
            return None
        return Integration.objects.filter(
            pk=pk, organization=organization, provider=self.provider
        ).first()

    def _channel(self, integration, channel_id: str) -> IntegrationChannel | None:
        return (
            IntegrationChannel.objects.filter(
                integration=integration, organization_id=integration.organization_id,
                channel_id=channel_id,
            ).exclude(kind__in=PRIVATE_KINDS).first()
        )  # fmt: skip

    def check(self, *, organization, integration_id: str, channel_id: str) -> dict[str, str]:
        integration = self._integration(organization=organization, integration_id=integration_id)
        if integration is None:
            return {"integration_id": f"No {self.label} integration of this organization."}
        if integration.status != IntegrationStatus.ACTIVE or not integration.token_encrypted:
            return {
                "integration_id": f"This {self.label} integration is not installed "
                f"({integration.get_status_display().lower()}): reconnect it first."
            }
        if not channel_id or self._channel(integration, channel_id) is None:
            return {
                "channel_id": f"The bot is not in this {self.label} channel: add it there "
                "(or mention it once) and pick the channel again."
            }
        return {}

    def destinations(self, *, organization) -> list[Destination]:
        rows = (
            IntegrationChannel.objects.filter(
                organization=organization,
                provider=self.provider,
                integration__status=IntegrationStatus.ACTIVE,
            )
            .exclude(kind__in=PRIVATE_KINDS)
            .select_related("integration")
            .order_by("integration__name", "name", "channel_id")
        )
        return [
            Destination(
                kind=self.kind,
                integration_id=str(row.integration_id),
                integration_name=row.integration.name or row.integration.external_id,
                channel_id=row.channel_id,
                name=row.name,
                channel_kind=row.kind,
            )
            for row in rows
        ]

    def _target(self, *, organization, integration_id, channel_id):
        problems = self.check(
            organization=organization, integration_id=integration_id, channel_id=channel_id
        )
        if problems:  # uninstalled or removed since the workflow was published
            raise DeliveryFailed(" ".join(problems.values()))
        integration = self._integration(organization=organization, integration_id=integration_id)
        return integration, self._channel(integration, channel_id)


class SlackNotifyChannel(_BotChannel):
    kind = "slack"
    label = "Slack"
    provider = IntegrationProvider.SLACK

    def send(
        self, *, organization, integration_id: str, channel_id: str, notification: Notification
    ) -> Delivered:
        integration, _ = self._target(
            organization=organization, integration_id=integration_id, channel_id=channel_id
        )
        client = web_client(crypto.decrypt(integration.token_encrypted))
        try:
            if notification.maybe_sent:
                earlier = self._find_earlier(client, channel_id, notification)
                if earlier:
                    return Delivered(message_id=earlier, found_earlier=True)
            text = notification.text
            if notification.title:
                text = f"*{notification.title}*\n{text}"
            posted = client.chat_postMessage(
                channel=channel_id,
                text=text[:MAX_TEXT],
                unfurl_links=False,
                unfurl_media=False,
                metadata={
                    "event_type": METADATA_EVENT,
                    "event_payload": {"key": notification.key},
                },
            )
        except SlackApiError as error:
            raise self._failure(error) from None
        except (URLError, OSError) as error:  # unreachable, timed out
            raise DeliveryFailed(f"Slack could not be reached ({error}).", retryable=True) from None
        return Delivered(message_id=str(posted.get("ts", "")))

    @staticmethod
    def _find_earlier(client, channel_id: str, notification: Notification) -> str:
        """The ts of a message of this bot carrying the key, posted since the step began."""
        oldest = f"{notification.since.timestamp() - 60:.6f}" if notification.since else "0"
        cursor = None
        for _ in range(10):  # at most 1,000 messages back
            page = client.conversations_history(
                channel=channel_id,
                oldest=oldest,
                limit=100,
                include_all_metadata=True,
                cursor=cursor,
            )
            for message in page.get("messages", []):
                metadata = message.get("metadata") or {}
                payload = metadata.get("event_payload") or {}
                if (
                    metadata.get("event_type") == METADATA_EVENT
                    and payload.get("key") == notification.key
                ):
                    return str(message.get("ts", ""))
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        return ""

    @staticmethod
    def _failure(error: SlackApiError) -> DeliveryFailed:
        response = error.response
        status = getattr(response, "status_code", 200)
        code = ""
        with contextlib.suppress(Exception):
            code = str(response.get("error") or "")
        if status == 429 or code == "ratelimited":
            return DeliveryFailed(
                "Slack is rate limiting this workspace (429).",
                retryable=True,
                retry_after=_retry_after(getattr(response, "headers", {})),
            )
        if status >= 500 or code in SLACK_TRANSIENT:
            return DeliveryFailed(f"Slack answered {status} {code}".strip() + ".", retryable=True)
        hint = {
            "channel_not_found": " (the channel was deleted, or the bot cannot see it)",
            "not_in_channel": " (invite the bot to the channel)",
            "is_archived": " (the channel is archived)",
            "missing_scope": " (reinstall the Slack app to grant it)",
        }.get(code, "")
        return DeliveryFailed(f"Slack refused the message: {code or status}{hint}.")


class TeamsNotifyChannel(_BotChannel):
    kind = "teams"
    label = "Teams"
    provider = IntegrationProvider.TEAMS

    def send(
        self, *, organization, integration_id: str, channel_id: str, notification: Notification
    ) -> Delivered:
        integration, channel = self._target(
            organization=organization, integration_id=integration_id, channel_id=channel_id
        )
        if notification.maybe_sent:
            # The connector cannot be asked what was posted: never post a second time.
            return Delivered(message_id="", confirmed=False)
        try:
            outbound.check_url(channel.service_url)
        except Exception:
            raise DeliveryFailed("The Teams service address may not be reached.") from None
        text = notification.text
        if notification.title:
            text = f"**{notification.title}**\n\n{text}"
        activity = Activity(
            type="message",
            text=text[:28_000],
            text_format="markdown",
            from_property=ChannelAccount(id=f"28:{integration.external_id}"),
            conversation=ConversationAccount(id=channel_id),
        )
        try:
            resource_id = asyncio.run(self._post(integration, channel, activity))
        except aiohttp.ClientResponseError as error:
            if error.status == 429 or error.status >= 500:
                raise DeliveryFailed(
                    f"Teams answered {error.status}.",
                    retryable=True,
                    retry_after=_retry_after(error.headers),
                ) from None
            raise DeliveryFailed(
                f"Teams refused the message ({error.status}"
                + (": the bot was removed from this conversation" if error.status in (403, 404)
                   else "") + ").",
            ) from None  # fmt: skip
        except PermissionError as error:  # the bot's credentials were refused
            raise DeliveryFailed(str(error)) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            raise DeliveryFailed(
                f"Teams could not be reached ({type(error).__name__}).", retryable=True
            ) from None
        return Delivered(message_id=resource_id)

    @staticmethod
    async def _post(integration, channel, activity: Activity) -> str:
        # A proactive message: no incoming token to take a scope from, so the Bot
        # Framework's own (what the SDK asks for a channel that is not another agent).
        scope = AuthenticationConstants.AGENTS_SDK_SCOPE
        provider = IntegrationConnections(integration).get_default_connection()
        token = await provider.get_access_token(scope, [f"{scope}/.default"])
        connector = connector_client(service_url=channel.service_url, token=token)
        try:
            response = await connector.conversations.send_to_conversation(
                channel.channel_id, activity
            )
        finally:
            await connector.close()
        return str(response.id or "")


def register() -> None:
    from core import notifications

    notifications.register(SlackNotifyChannel())
    notifications.register(TeamsNotifyChannel())

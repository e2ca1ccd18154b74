"""The address Teams (the Bot Framework) posts activities to, on the platform's public
host: the token is checked before anything is stored, the bot and Microsoft tenant
route to one organization, and the answer is produced by a Celery task."""

from __future__ import annotations

import json
import logging

from asgiref.sync import async_to_sync
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django_tenants.utils import tenant_context

from core import outbound
from integrations import bots
from integrations.bot_services import teams_route_key
from integrations.models import IntegrationProvider
from integrations.teams.auth import InvalidTeamsToken, validate_activity_token

logger = logging.getLogger(__name__)


def _refuse(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": "refused", "message": message}}, status=status)


def _app_id(body: dict) -> str:
    return str((body.get("recipient") or {}).get("id", "")).removeprefix("28:").lower()


def _tenant_id(body: dict) -> str:
    tenant = (body.get("conversation") or {}).get("tenantId") or (
        (body.get("channelData") or {}).get("tenant") or {}
    ).get("id")
    return str(tenant or "").lower()


def _channel_seen(integration, body: dict) -> None:
    """The conversation this activity came from (a bot added to a team, a chat, a
    message): a place a workflow's notify step may post to, with the serviceUrl a
    proactive message goes to. A channel thread is recorded as its channel (a post
    there starts a new thread)."""
    conversation = body.get("conversation") or {}
    channel_data = body.get("channelData") or {}
    channel = channel_data.get("channel") or {}
    conversation_id = str(conversation.get("id") or "").split(";messageid=")[0]
    name = channel.get("name") or conversation.get("name") or ""
    team = (channel_data.get("team") or {}).get("name")
    bots.channel_seen(
        integration=integration,
        channel_id=conversation_id,
        kind=str(conversation.get("conversationType") or "personal"),
        name=f"{team} / {name}" if team and name else name,
        service_url=body.get("serviceUrl", ""),
    )


@csrf_exempt
@require_POST
def teams_messages(request):
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return _refuse(401, "A Bot Framework token is required.")
    try:
        body = json.loads(request.body)
        assert isinstance(body, dict)
    except (ValueError, AssertionError):
        return _refuse(400, "The activity is not JSON.")
    app_id = _app_id(body)
    try:
        identity = async_to_sync(validate_activity_token)(
            token=header[7:], app_id=app_id, service_url=body.get("serviceUrl", "")
        )
    except InvalidTeamsToken as exc:
        logger.info("Teams activity refused: %s", exc)
        return _refuse(401, "The token is invalid.")
    integration = bots.route_find(
        provider=IntegrationProvider.TEAMS,
        keys=[teams_route_key(tenant_id=_tenant_id(body), app_id=app_id)],
    )
    if integration is None:
        return _refuse(404, "This bot is not connected to any organization here.")
    try:
        outbound.check_url(body.get("serviceUrl", ""))
    except Exception:
        return _refuse(400, "The activity's serviceUrl may not be reached.")
    _channel_seen(integration, body)
    if body.get("type") != "message":
        return HttpResponse(status=200)  # conversationUpdate, typing...: nothing to answer
    value = body.get("value") or {}
    if isinstance(value, dict) and value.get("action") == "feedback":
        bots.feedback_record(
            integration=integration,
            message_id=str(value.get("message_id", "")),
            rating=1 if value.get("rating") == 1 else -1,
        )
        return HttpResponse(status=200)
    if not (body.get("text") or "").strip():
        return HttpResponse(status=200)
    stored = bots.event_receive(
        integration=integration,
        delivery_id=f"{body.get('conversation', {}).get('id')}:{body.get('id')}",
        kind=f"message ({(body.get('conversation') or {}).get('conversationType', 'personal')})",
        summary=f"message from {(body.get('from') or {}).get('name', 'someone')}",
        payload={"activity": body, "claims": identity.claims},
    )
    if stored is not None:
        from integrations.teams.tasks import teams_answer_task

        with tenant_context(integration.organization):
            teams_answer_task.delay(str(stored.pk))
    return HttpResponse(status=202)

"""Chat over one WebSocket per conversation: the same events as the SSE API.

Client sends: {"type": "chat", "assistant": id, "session": id?, "message": str, "top_k": n?}
Server sends: {"event": "session"|"delta"|"sources"|"usage"|"done"|"error", "data": {...}}
A disconnect mid-answer stores the answer as ``cancelled`` with the text so far.
"""

import asyncio
from contextlib import aclosing

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django_tenants.utils import tenant_context
from rest_framework.exceptions import ValidationError as DRFValidationError

from assistants.providers.errors import ProviderError, as_domain_error
from chat import services, streaming
from chat.api.serializers import ChatInputSerializer
from core.api.errors import flatten_fields

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404


def _prepare(scope, content: dict) -> services.Turn:
    organization, user, membership = scope["tenant"], scope["user"], scope["membership"]
    try:
        with tenant_context(organization):
            data = ChatInputSerializer(data=content)
            data.is_valid(raise_exception=True)
            values = data.validated_data
            return services.chat_prepare(
                organization=organization, user=user, membership=membership, channel="web",
                assistant_id=values["assistant"], session_id=values.get("session"),
                message=values["message"], top_k=values.get("top_k"),
            )  # fmt: skip
    finally:
        streaming.release_connection()


def _error(code: str, message: str, fields: dict | None = None) -> dict:
    return {"event": "error", "data": {"code": code, "message": message, "fields": fields or {}}}


class ChatConsumer(AsyncJsonWebsocketConsumer):
    current: asyncio.Task | None = None  # the answer being streamed

    async def connect(self):
        if not self.scope["user"].is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
        elif self.scope["tenant"] is None or self.scope["membership"] is None:
            # Not a member (or not an organization host): as on HTTP, "not found".
            await self.close(code=CLOSE_NOT_FOUND)
        else:
            await self.accept()

    async def receive_json(self, content, **kwargs):
        if content.get("type") != "chat":
            await self.send_json(_error("invalid", 'Send {"type": "chat", ...}.'))
            return
        if self.current is not None and not self.current.done():
            await self.send_json(_error("busy", "Wait for the current answer to finish."))
            return
        try:
            turn = await sync_to_async(_prepare)(self.scope, content)
        except DRFValidationError as exc:
            await self.send_json(_error("invalid", "Invalid input.", flatten_fields(exc.detail)))
            return
        except ValidationError as exc:
            fields = (
                exc.message_dict
                if hasattr(exc, "error_dict")
                else {"non_field_errors": exc.messages}
            )
            await self.send_json(_error("invalid", "Invalid input.", fields))
            return
        except ObjectDoesNotExist:
            await self.send_json(_error("not_found", "Not found."))
            return
        except ProviderError as error:
            failure = as_domain_error(error)
            await self.send_json(_error(failure.code, failure.message))
            return
        # The answer streams in its own task, so a disconnect can cancel it.
        self.current = asyncio.ensure_future(self._stream(turn))

    async def _stream(self, turn: services.Turn):
        # Closed explicitly: a disconnect that cancels us while sending (outside the
        # generator) still stores the answer as cancelled now, not when it is collected.
        async with aclosing(streaming.turn_events(turn)) as events:
            async for event in events:
                await self.send_json({"event": event.name, "data": event.data})

    async def disconnect(self, code):
        task = self.current
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

"""Chat over one WebSocket per conversation: the same events as the SSE API.

Client sends: {"type": "chat", "assistant": id, "session": id?, "message": str, "top_k": n?}
Server sends: {"event": "session"|"delta"|"sources"|"usage"|"done"|"error", "data": {...}}
A disconnect mid-answer stores the answer as ``cancelled`` with the text so far.

Every message is authorized like an HTTP request to ``POST /api/v1/chat``: the
caller is resolved afresh from the handshake's credentials (session cookie or API
key), then ``core.api.authorization`` checks membership, role and scope with the
chat endpoint's own requirement and counts the message against the same rate
limits (an ``error`` event with ``status`` 429 and ``retry_after`` when over), and
the chat service applies the quotas and chat.access. The socket also closes as
soon as its access ends (core.socket_groups): a removed member, a changed role,
a logout, a password change or a revoked key.
"""

import asyncio
import logging
from contextlib import aclosing

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django_tenants.utils import tenant_context
from rest_framework import exceptions

from assistants.providers.errors import ProviderError, as_domain_error
from chat import access, services, streaming
from chat.api.serializers import ChatInputSerializer
from chat.api.views import ChatView
from core import socket_groups
from core.access import Caller
from core.api.authorization import ThrottledCall, authorize, throttle
from core.api.errors import exception_handler
from core.websocket import SocketIdentity, client_address, resolve_socket

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = socket_groups.CLOSE_UNAUTHENTICATED
CLOSE_FORBIDDEN = socket_groups.CLOSE_ACCESS_CHANGED
CLOSE_NOT_FOUND = socket_groups.CLOSE_NOT_FOUND

# Refusals that end the socket's access (the client must reconnect, or stop).
_CLOSE_CODES = {
    exceptions.NotAuthenticated: CLOSE_UNAUTHENTICATED,
    exceptions.AuthenticationFailed: CLOSE_UNAUTHENTICATED,
    exceptions.NotFound: CLOSE_NOT_FOUND,
    exceptions.PermissionDenied: CLOSE_FORBIDDEN,
}


class AccessEnded(Exception):
    """The caller may no longer chat on this socket (``error``: what HTTP would answer)."""

    def __init__(self, error: exceptions.APIException):
        super().__init__(str(error.detail))
        self.error = error
        self.close_code = _CLOSE_CODES[type(error)]


def _chat_view() -> ChatView:
    """The HTTP chat endpoint, for its declared requirement and throttles."""
    return ChatView()


def _check_access(caller: Caller, view: ChatView) -> None:
    """Membership, role and scope as for an HTTP request to the chat endpoint."""
    requirement = view.requirement("POST", for_api_key=caller.api_key is not None)
    try:
        authorize(caller=caller, requirement=requirement)
    except tuple(_CLOSE_CODES) as error:
        raise AccessEnded(error) from None


def _authorize_connect(caller: Caller) -> None:
    """Opening a socket needs what one chat message needs (not counted as one)."""
    _check_access(caller, _chat_view())


def _authorize(caller: Caller, *, client: str | None) -> None:
    """The checks of an HTTP request to the chat endpoint, in the same functions."""
    view = _chat_view()
    _check_access(caller, view)
    throttle(call=ThrottledCall.of(caller, client_address=client), throttles=view.get_throttles())


def _authorized_turn(scope, content: dict, connected_as: SocketIdentity) -> services.Turn:
    try:
        identity = resolve_socket(scope)
        caller = identity.caller
        _authorize(caller, client=client_address(scope))
        if _who(caller) != _who(connected_as.caller):
            # Another person or key behind the same cookie: not the socket's caller.
            raise AccessEnded(exceptions.NotAuthenticated())
        with tenant_context(caller.organization):
            data = ChatInputSerializer(data=content)
            data.is_valid(raise_exception=True)
            values = data.validated_data
            if values.get("session") is not None:
                # A new question goes into a conversation of the caller's own.
                access.check_may_write(caller=caller, session_id=values["session"])
            return services.chat_prepare(
                organization=caller.organization,
                user=caller.user,
                caller=caller,
                channel="api" if caller.api_key else "web",
                assistant_id=values["assistant"],
                session_id=values.get("session"),
                message=values["message"],
                top_k=values.get("top_k"),
                attachments=values.get("attachments"),
                prompt_version=values.get("prompt_version"),
            )
    finally:
        streaming.release_connection()


def _who(caller: Caller) -> tuple:
    """The identity a socket was opened with (its person or key, its organization)."""
    return (
        getattr(caller.user, "pk", None),
        caller.api_key.pk if caller.api_key else None,
        caller.organization.pk if caller.organization else None,
    )


def _error(code: str, message: str, fields: dict | None = None, **extra) -> dict:
    data = {"code": code, "message": message, "fields": fields or {}, **extra}
    return {"event": "error", "data": data}


def _error_event(exc: Exception) -> dict | None:
    """The one error format of the API, as an ``error`` event (None: unexpected)."""
    if isinstance(exc, ProviderError):
        exc = as_domain_error(exc)
    response = exception_handler(exc, {})
    if response is None:
        return None
    extra = {"status": response.status_code}
    if response.has_header("Retry-After"):
        extra["retry_after"] = int(response["Retry-After"])
    return {"event": "error", "data": {**response.data["error"], **extra}}


def _groups(identity: SocketIdentity) -> list[str]:
    """The channel-layer groups whose ``socket.close`` ends this socket."""
    caller = identity.caller
    if caller.api_key is not None:
        return [socket_groups.api_key_group(api_key_id=caller.api_key.pk)]
    groups = [
        socket_groups.member_group(organization_id=caller.organization.pk, user_id=caller.user.pk),
        socket_groups.user_group(user_id=caller.user.pk),
    ]
    if identity.login_session_key:
        groups.append(socket_groups.login_session_group(session_key=identity.login_session_key))
    return groups


class ChatConsumer(AsyncJsonWebsocketConsumer):
    current: asyncio.Task | None = None  # the answer being streamed
    ended = False  # access ended: the socket is closing and answers nothing more

    async def connect(self):
        identity: SocketIdentity = self.scope["socket_identity"]
        try:
            await sync_to_async(_authorize_connect)(identity.caller)
        except AccessEnded as ended:
            await self.close(code=ended.close_code)
            return
        self.connected_as = identity
        for group in _groups(identity):
            try:
                await self.channel_layer.group_add(group, self.channel_name)
            except Exception:
                # Without the group the socket still re-checks every message.
                logger.warning("socket could not join %s", group, exc_info=True)
                continue
            self.groups.append(group)  # left again on disconnect
        await self.accept()

    async def receive_json(self, content, **kwargs):
        if self.ended:
            return
        if content.get("type") != "chat":
            await self.send_json(_error("invalid", 'Send {"type": "chat", ...}.'))
            return
        if self.current is not None and not self.current.done():
            await self.send_json(_error("busy", "Wait for the current answer to finish."))
            return
        try:
            turn = await sync_to_async(_authorized_turn)(self.scope, content, self.connected_as)
        except AccessEnded as ended:
            await self.send_json(_error_event(ended.error))
            await self._end(ended.close_code)
            return
        except Exception as exc:
            event = _error_event(exc)
            if event is None:
                raise
            await self.send_json(event)
            return
        # The answer streams in its own task, so a disconnect can cancel it.
        self.current = asyncio.ensure_future(self._stream(turn))

    async def _stream(self, turn: services.Turn):
        # Closed explicitly: a disconnect that cancels us while sending (outside the
        # generator) still stores the answer as cancelled now, not when it is collected.
        async with aclosing(streaming.turn_events(turn)) as events:
            async for event in events:
                await self.send_json({"event": event.name, "data": event.data})

    async def socket_close(self, event):
        """A service ended this socket's access (core.socket_groups)."""
        if self.ended:
            return
        await self.send_json(_error("access_ended", event.get("reason", "")))
        await self._end(event["code"])

    async def _end(self, code: int):
        self.ended = True
        await self._cancel_answer()
        await self.close(code=code)

    async def _cancel_answer(self):
        task = self.current
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def websocket_disconnect(self, message):
        # The answer first (it is stored as cancelled), then leave the groups.
        await self._cancel_answer()
        await super().websocket_disconnect(message)

    async def disconnect(self, code):
        await self._cancel_answer()

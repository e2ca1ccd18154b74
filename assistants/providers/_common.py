"""Helpers shared by the adapters: message shaping, usage estimation, transport errors,
async clients kept per event loop."""

from __future__ import annotations

import asyncio
import importlib
import json
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from core import outbound

from .base import (
    MAX_VERIFY_MODELS,
    ROLE_ASSISTANT,
    ROLE_SYSTEM,
    ChatMessage,
    ChatRequest,
    Usage,
    VerifyResult,
)
from .errors import MalformedResponse, ProviderError, ProviderTimeout, ProviderUnavailable
from .tokens import count_tokens

T = TypeVar("T")
L = TypeVar("L")

# --- messages ----------------------------------------------------------------------------


def split_system(request: ChatRequest) -> tuple[str | None, list[ChatMessage]]:
    """System text for providers with a dedicated system slot (Anthropic, Gemini).

    System-role messages inside the history are hoisted after `request.system`, in order,
    because those APIs accept no system turns in the conversation.
    """
    parts = [request.system] if request.system else []
    parts += [m.content for m in request.messages if m.role == ROLE_SYSTEM and m.content]
    rest = [m for m in request.messages if m.role != ROLE_SYSTEM]
    return ("\n\n".join(parts) or None), rest


def merge_consecutive(messages: Iterable[ChatMessage]) -> list[ChatMessage]:
    """Join adjacent same-role turns (APIs requiring alternation reject them) and drop
    empty ones (rejected as invalid content)."""
    merged: list[ChatMessage] = []
    for message in messages:
        if not message.content.strip() and not message.images:
            continue
        if merged and merged[-1].role == message.role:
            previous = merged[-1]
            merged[-1] = ChatMessage(
                message.role,
                f"{previous.content}\n\n{message.content}",
                previous.images + message.images,
            )
        else:
            merged.append(message)
    return merged


def alternating_user_first(messages: Iterable[ChatMessage]) -> list[ChatMessage]:
    """user/assistant alternation starting with user, as Anthropic requires.

    Leading assistant turns (typically a canned greeting) are dropped rather than
    answered by an invented user turn, so nothing is put in the user's mouth.
    """
    merged = merge_consecutive(messages)
    while merged and merged[0].role == ROLE_ASSISTANT:
        merged.pop(0)
    return merged


# --- finish reasons -------------------------------------------------------------------------

# One vocabulary for callers: stop | length | content_filter | tool_calls | other.
_FINISH_ALIASES = {
    "stop": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "finish_reason_unspecified": "stop",
    "length": "length",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "content_filter": "content_filter",
    "refusal": "content_filter",
    "safety": "content_filter",
    "recitation": "content_filter",
    "blocklist": "content_filter",
    "prohibited_content": "content_filter",
    "spii": "content_filter",
    "image_safety": "content_filter",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "tool_use": "tool_calls",
}


def normalize_finish(reason: str | None) -> str:
    if not reason:
        return "stop"
    return _FINISH_ALIASES.get(reason.lower(), "other")


# --- usage --------------------------------------------------------------------------------


def prompt_text(request: ChatRequest) -> str:
    parts = [request.system or ""] + [m.content for m in request.messages]
    return "\n".join(p for p in parts if p)


def estimate_usage(request: ChatRequest, completion: str) -> Usage:
    prompt = count_tokens(prompt_text(request), request.model)
    return Usage.of(prompt, count_tokens(completion, request.model), estimated=True)


def usage_or_estimate(
    prompt_tokens: int | None,
    completion_tokens: int | None,
    request: ChatRequest,
    completion: str,
) -> Usage:
    if prompt_tokens is None and completion_tokens is None:
        return estimate_usage(request, completion)
    if prompt_tokens is None or completion_tokens is None:
        estimate = estimate_usage(request, completion)
        return Usage.of(
            estimate.prompt_tokens if prompt_tokens is None else prompt_tokens,
            estimate.completion_tokens if completion_tokens is None else completion_tokens,
            estimated=True,
        )
    return Usage.of(prompt_tokens, completion_tokens)


# --- credential checks -------------------------------------------------------------------


def models_listed(label: str, ids: Iterable[object], *, more: bool = False) -> VerifyResult:
    """The VerifyResult for a successful model listing (the key was accepted).

    `more` says the provider has further pages we did not fetch, so the count is a floor.
    """
    names = [i for i in ids if isinstance(i, str) and i]
    count = len(names)
    if count == 0 and not more:
        # Valid key, nothing to call (e.g. a local server with no model pulled yet).
        return VerifyResult(True, f"Connected to {label}, but no models are available.", [])
    amount = f"at least {count}" if more else str(count)
    noun = "model" if count == 1 and not more else "models"
    message = f"Connected to {label}: {amount} {noun} available."
    return VerifyResult(True, message, names[:MAX_VERIFY_MODELS])


# --- transport errors ---------------------------------------------------------------------


def _exception_classes(name: str) -> tuple[type[BaseException], ...]:
    """`name` from every httpx flavour the SDKs may use (httpx and/or httpx2)."""
    found: list[type[BaseException]] = []
    for module_name in ("httpx2", "httpx"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        cls = getattr(module, name, None)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            found.append(cls)
    return tuple(found)


_TIMEOUTS = (*_exception_classes("TimeoutException"), TimeoutError)
_PROTOCOL_ERRORS = _exception_classes("RemoteProtocolError")
_TRANSPORT_ERRORS = (*_exception_classes("TransportError"), ConnectionError)


def translate_transport(exc: BaseException) -> ProviderError | None:
    """Errors raised below the SDK (often while iterating a stream), or None."""
    if isinstance(exc, outbound.UnreachableAddress):
        # One message whatever the cause (refused address, closed port, not HTTP).
        return ProviderUnavailable(outbound.UNREACHABLE_MESSAGE)
    if isinstance(exc, _TIMEOUTS):
        return ProviderTimeout(f"{type(exc).__name__}: request timed out")
    if isinstance(exc, _PROTOCOL_ERRORS):
        return MalformedResponse(f"{type(exc).__name__}: connection closed mid-response")
    if isinstance(exc, _TRANSPORT_ERRORS):
        return ProviderUnavailable(f"{type(exc).__name__}: could not reach the provider")
    if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)):
        return MalformedResponse(f"{type(exc).__name__}: response was not valid JSON")
    return None


def stream_ended_early(provider: str) -> MalformedResponse:
    return MalformedResponse(f"{provider} stream ended before its final event")


# --- async clients ------------------------------------------------------------------------


# Connections one async client may open at once. Every open answer holds one, so the SDKs'
# default (1,000) would be the most answers a worker could stream per configuration, the
# next one waiting for a free connection; the file-descriptor limit is the real ceiling.
MAX_STREAM_CONNECTIONS = 10_000


def stream_pool_limits(sdk_default: L) -> L:
    """The SDK's connection-pool limits (an httpx or httpx2 ``Limits``), with room for
    many concurrent streams; idle keep-alive connections stay as the SDK sets them."""
    return type(sdk_default)(
        max_connections=MAX_STREAM_CONNECTIONS,
        max_keepalive_connections=sdk_default.max_keepalive_connections,
        keepalive_expiry=sdk_default.keepalive_expiry,
    )


class PerEventLoop(Generic[T]):
    """One object per running event loop, built on first use in that loop.

    An SDK's async client owns an httpx AsyncClient whose pooled connections belong to the
    loop that opened them; used from another loop they fail ("Event loop is closed", or
    "attached to a different loop"). A server has one loop, so this is one client per
    configuration as for the sync SDKs, while callers that bridge with ``async_to_sync``
    (a fresh loop per call) get a client of their own. Entries go with their loop: weakly
    keyed, and dropped as soon as the loop is closed (a client's sockets refer to the loop,
    which would otherwise keep it alive).
    """

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._items: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()  # adapters are shared by every thread of a process

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        with self._lock:
            item = self._items.get(loop)
            if item is None:
                for closed in [old for old in self._items if old.is_closed()]:
                    del self._items[closed]
                item = self._items[loop] = self._build()
            return item

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


class SSEDecoder:
    """Server-sent events, line by line (the WHATWG rules the SDKs' decoders follow):
    ``feed`` returns the ``data`` of each event a blank line completes, ``feed_events``
    the ``(event, data)`` pairs (``event`` is None when the event named none). Comments
    and other fields are skipped; ``[DONE]`` (OpenAI's end marker) ends the stream's
    events (the rest of the body is still read, so the connection can be reused).

    The adapters read streamed chunks as JSON with it rather than through the SDKs'
    per-chunk models (ADR 0110); the SDKs still send the requests."""

    def __init__(self) -> None:
        self.data: list[str] = []
        self.event: str | None = None
        self.done = False

    def feed(self, line: str) -> list[str]:
        return [data for _, data in self.feed_events(line)]

    def feed_events(self, line: str) -> list[tuple[str | None, str]]:
        if not line:
            if not self.data:
                self.event = None
                return []
            data, self.data = "\n".join(self.data), []
            event, self.event = self.event, None
            if data.startswith("[DONE]"):
                self.done = True
            return [] if self.done else [(event, data)]
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            self.data.append(value)
        elif field == "event":
            self.event = value
        return []

"""Anthropic Messages API via the official `anthropic` SDK."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from functools import cached_property
from typing import Any

import anthropic
from anthropic.types import Message

from core import outbound

from ._common import (
    PerEventLoop,
    SSEDecoder,
    alternating_user_first,
    models_listed,
    normalize_finish,
    split_system,
    stream_ended_early,
    stream_pool_limits,
    translate_transport,
    usage_or_estimate,
)
from .base import (
    ChatMessage,
    ChatProvider,
    ChatRequest,
    ChatResult,
    Finish,
    StreamEvent,
    TextDelta,
    UsageEvent,
    VerifyResult,
)
from .errors import (
    AuthenticationFailed,
    InvalidRequest,
    MalformedResponse,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    error_for_status,
)
from .retry import retry_after_from_headers

# The Messages API requires max_tokens; used when the assistant configures none.
DEFAULT_MAX_TOKENS = 1024
# The Models API's largest page (default 20): one request gives an exact count.
MODELS_PAGE_LIMIT = 1000


_CACHE_TOKENS = ("cache_creation_input_tokens", "cache_read_input_tokens")


def _input_tokens(usage: Any) -> int | None:
    """Billable input = uncached + cache writes + cache reads (Anthropic splits them).
    ``usage``: the SDK's model (answers) or the API's JSON object (streams)."""
    if isinstance(usage, dict):
        counts = [_tokens(usage.get(k)) for k in ("input_tokens", *_CACHE_TOKENS)]
    else:
        counts = [getattr(usage, k, None) for k in ("input_tokens", *_CACHE_TOKENS)]
    if counts[0] is None:
        return None
    return counts[0] + sum(c or 0 for c in counts[1:])


# Anthropic error types -> the HTTP status they stand for (used for in-stream errors).
_ERROR_TYPE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def _status_of(body: object) -> int:
    error = body.get("error") if isinstance(body, dict) else None
    kind = error.get("type") if isinstance(error, dict) else None
    return _ERROR_TYPE_STATUS.get(kind, 500) if isinstance(kind, str) else 500


class AnthropicProvider(ChatProvider):
    name = "anthropic"

    def client_options(self) -> dict[str, Any]:
        if not self.config.api_key:
            # Never let the SDK pick up a key from env/config files: tenants bring their own.
            raise AuthenticationFailed("No API key configured for Anthropic.", provider=self.name)
        return {
            "api_key": self.config.api_key,
            "base_url": self.config.base_url,
            "timeout": self.config.timeout,
            "max_retries": 0,  # RetryPolicy is the only retry layer
        }

    @cached_property
    def client(self) -> anthropic.Anthropic:
        http_client = anthropic.DefaultHttpxClient(transport=outbound.transport())
        return anthropic.Anthropic(**self.client_options(), http_client=http_client)

    @cached_property
    def _async_clients(self) -> PerEventLoop[anthropic.AsyncAnthropic]:
        def build() -> anthropic.AsyncAnthropic:
            options = self.client_options()  # first: a missing key raises before any I/O
            limits = stream_pool_limits(anthropic.DEFAULT_CONNECTION_LIMITS)
            http_client = anthropic.DefaultAsyncHttpxClient(
                transport=outbound.async_transport(limits=limits)
            )
            return anthropic.AsyncAnthropic(**options, http_client=http_client)

        return PerEventLoop(build)

    @property
    def async_client(self) -> anthropic.AsyncAnthropic:
        """The running event loop's client (see PerEventLoop)."""
        return self._async_clients.get()

    def build_params(self, request: ChatRequest) -> dict[str, Any]:
        system, history = split_system(request)
        messages = alternating_user_first(history)
        if not messages:
            raise InvalidRequest("Anthropic needs at least one non-empty user message.")
        params: dict[str, Any] = {
            "model": request.model,
            "messages": [{"role": m.role, "content": _content(m)} for m in messages],
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
        }
        if system:
            params["system"] = system  # top-level parameter: there is no "system" message role
        if request.stop:
            params["stop_sequences"] = request.stop
        sampling = self.sampling_params(request)
        if sampling:
            params["extra_body"] = sampling
        return params

    @staticmethod
    def sampling_params(request: ChatRequest) -> dict[str, float]:
        """temperature/top_p, sent only when configured.

        The SDK no longer types them (the newest Claude models reject sampling knobs), so
        they travel in `extra_body`; the model catalog must not set them for such models.
        Current models also reject temperature and top_p together: temperature wins.
        """
        if request.temperature is not None:
            return {"temperature": request.temperature}
        if request.top_p is not None:
            return {"top_p": request.top_p}
        return {}

    def _complete_once(self, request: ChatRequest) -> ChatResult:
        message = self.client.messages.create(**self.build_params(request))
        # A proxy answering 200 with HTML makes the SDK hand back a bare string.
        if not isinstance(message, Message):
            raise MalformedResponse("Anthropic response was not a message")
        text = "".join(block.text for block in message.content if block.type == "text")
        usage = message.usage
        return ChatResult(
            text=text,
            usage=usage_or_estimate(
                _input_tokens(usage), usage.output_tokens if usage else None, request, text
            ),
            finish_reason=normalize_finish(message.stop_reason),
            model=request.model,
            provider=self.name,
        )

    # Streams: the SDK sends the request (authentication, the outbound transport, and a
    # non-2xx answer raised as APIStatusError before the body is read); the events are
    # read as JSON, not as the SDK's pydantic models, as the OpenAI adapter does (ADR 0110:
    # the models were most of the CPU a relayed delta cost).

    def _stream_once(self, request: ChatRequest) -> Iterator[StreamEvent]:
        fold = _StreamFold(self.name, request)
        create = self.client.messages.with_streaming_response.create
        with create(**self.build_params(request), stream=True) as response:
            decoder = SSEDecoder()
            for line in response.iter_lines():
                for event, data in decoder.feed_events(line):
                    yield from fold.feed(event, data)
        yield from fold.end()

    async def _astream_once(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        fold = _StreamFold(self.name, request)
        create = self.async_client.messages.with_streaming_response.create
        async with create(**self.build_params(request), stream=True) as response:
            decoder = SSEDecoder()
            async for line in response.iter_lines():
                for event, data in decoder.feed_events(line):
                    for normalized in fold.feed(event, data):
                        yield normalized
        for normalized in fold.end():
            yield normalized

    def _verify_once(self) -> VerifyResult:
        # GET /v1/models, first page only: iterating the SDK page would fetch the rest.
        client = self.client
        try:
            page = client.models.list(limit=MODELS_PAGE_LIMIT)
        except AttributeError as exc:
            # How the SDK's page parser fails on a 200 that is not JSON (a proxy's HTML
            # page): the list-call twin of the "bare string" check in _complete_once.
            raise MalformedResponse("Anthropic model list was not JSON") from exc
        data = getattr(page, "data", None)
        if not isinstance(data, list):
            raise MalformedResponse("Anthropic response was not a model list")
        ids = [getattr(m, "id", None) for m in data]
        return models_listed("Anthropic", ids, more=bool(getattr(page, "has_more", False)))

    def translate_error(self, exc: Exception) -> ProviderError | None:
        if isinstance(exc, anthropic.APITimeoutError):
            return ProviderTimeout("Anthropic request timed out")
        if isinstance(exc, anthropic.APIConnectionError):
            return translate_transport(exc.__cause__) or ProviderUnavailable(
                outbound.UNREACHABLE_MESSAGE
            )
        if isinstance(exc, anthropic.APIStatusError):
            # An `error` event inside a 200 stream arrives with status 200: use its type.
            status = exc.status_code if exc.status_code >= 400 else _status_of(exc.body)
            return error_for_status(
                status,
                f"HTTP {status}: {exc.message}",
                retry_after=retry_after_from_headers(exc.response.headers),
            )
        if isinstance(exc, anthropic.APIResponseValidationError):
            return MalformedResponse("Anthropic response did not match the expected schema")
        if isinstance(exc, anthropic.APIError):
            return ProviderUnavailable(f"Anthropic stream error: {exc.message}")
        return translate_transport(exc)


class _StreamFold:
    """Messages-API stream events (SSE name and JSON data) -> normalized events (shared
    by the sync and async streams). Read as the SDK reads them: events without a name and
    ``ping`` are skipped, an ``error`` event is the error it carries."""

    def __init__(self, provider: str, request: ChatRequest) -> None:
        self.provider, self.request = provider, request
        self.texts: list[str] = []
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.stop_reason: str | None = None
        self.finished = False

    def feed(self, name: str | None, data: str) -> list[StreamEvent]:
        if name is None or name == "ping" or (not data and name != "error"):
            return []
        if name == "error":
            raise _stream_error(data)
        event = _object(data)
        kind = event.get("type")
        if kind == "message_start":
            self.input_tokens = _input_tokens(_field(event, "message").get("usage"))
        elif kind == "content_block_delta":
            delta = _field(event, "delta")
            if delta.get("type") == "text_delta":
                text = delta.get("text")
                if not isinstance(text, str):
                    raise MalformedResponse("Anthropic stream delta's text was not text")
                self.texts.append(text)
                return [TextDelta(text)]
        elif kind == "message_delta":
            stop_reason = _field(event, "delta").get("stop_reason")
            self.stop_reason = stop_reason if isinstance(stop_reason, str) else self.stop_reason
            # message_delta carries the cumulative output count (and may restate input).
            usage = event.get("usage")
            if isinstance(usage, dict):
                self.output_tokens = _tokens(usage.get("output_tokens"))
                self.input_tokens = _input_tokens(usage) or self.input_tokens
        elif kind == "message_stop":
            self.finished = True
        return []

    def end(self) -> list[StreamEvent]:
        if not self.finished:
            raise stream_ended_early(self.provider)
        text = "".join(self.texts)
        usage = usage_or_estimate(self.input_tokens, self.output_tokens, self.request, text)
        return [UsageEvent(usage), Finish(normalize_finish(self.stop_reason))]


def _object(data: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        raise MalformedResponse("Anthropic stream event was not JSON") from None
    if not isinstance(value, dict):
        raise MalformedResponse("Anthropic stream event was not a JSON object")
    return value


def _field(event: dict[str, Any], name: str) -> dict[str, Any]:
    value = event.get(name)
    if not isinstance(value, dict):
        raise MalformedResponse(f"Anthropic stream event's {name} was not an object")
    return value


def _tokens(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _stream_error(data: str) -> ProviderError:
    """An ``error`` event inside a 200 stream: the status its type stands for (what
    ``translate_error`` makes of the SDK's APIStatusError for it)."""
    try:
        body: Any = json.loads(data)
    except ValueError:
        body = None
    status = _status_of(body)
    message = f"{body}" if body is not None else (data or "Error code: 200")
    return error_for_status(status, f"HTTP {status}: {message}")


def _content(message: ChatMessage) -> str | list[dict[str, Any]]:
    """Text alone, or base64 image blocks followed by the text (Anthropic's advice:
    images before the question)."""
    if not message.images:
        return message.content
    blocks: list[dict[str, Any]] = [
        {
            "type": "image",
            "source": {"type": "base64", "media_type": image.media_type, "data": image.base64()},
        }
        for image in message.images
    ]
    if message.content.strip():
        blocks.append({"type": "text", "text": message.content})
    return blocks

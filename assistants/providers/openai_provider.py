"""OpenAI and OpenAI-compatible servers (Ollama, vLLM, LM Studio, llama.cpp) via the
official `openai` SDK; `ProviderConfig.base_url` selects the server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from functools import cached_property
from typing import Any

import openai
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion

from core import outbound

from ._common import (
    PerEventLoop,
    SSEDecoder,
    estimate_usage,
    models_listed,
    normalize_finish,
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
    EmbeddingResult,
    Finish,
    ProviderConfig,
    StreamEvent,
    TextDelta,
    Usage,
    UsageEvent,
    VerifyResult,
)
from .errors import (
    AuthenticationFailed,
    MalformedResponse,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    error_for_status,
)
from .retry import RetryPolicy, retry_after_from_headers
from .tokens import count_tokens

# Local servers ignore the key, but the SDK refuses to start without one.
PLACEHOLDER_KEY = "not-needed"


class OpenAIProvider(ChatProvider):
    name = "openai"

    def __init__(
        self,
        config: ProviderConfig,
        retry_policy: RetryPolicy | None = None,
        *,
        compatible: bool = False,
    ) -> None:
        super().__init__(config, retry_policy)
        self.compatible = compatible
        self.name = "openai_compatible" if compatible else "openai"

    def client_options(self) -> dict[str, Any]:
        api_key = self.config.api_key
        if not api_key:
            if not self.compatible:
                # Never fall back to OPENAI_API_KEY from the environment: in a
                # multi-tenant platform that would bill one tenant's usage to another key.
                raise AuthenticationFailed("No API key configured for OpenAI.", provider=self.name)
            api_key = PLACEHOLDER_KEY
        return {
            "api_key": api_key,
            "base_url": self.config.base_url,
            "organization": self.config.organization,
            "timeout": self.config.timeout,
            "max_retries": 0,  # RetryPolicy is the only retry layer
        }

    @cached_property
    def client(self) -> openai.OpenAI:
        http_client = openai.DefaultHttpxClient(transport=outbound.transport())
        return openai.OpenAI(**self.client_options(), http_client=http_client)

    @cached_property
    def _async_clients(self) -> PerEventLoop[openai.AsyncOpenAI]:
        def build() -> openai.AsyncOpenAI:
            options = self.client_options()  # first: a missing key raises before any I/O
            limits = stream_pool_limits(openai.DEFAULT_CONNECTION_LIMITS)
            http_client = openai.DefaultAsyncHttpxClient(
                transport=outbound.async_transport(limits=limits)
            )
            return openai.AsyncOpenAI(**options, http_client=http_client)

        return PerEventLoop(build)

    @property
    def async_client(self) -> openai.AsyncOpenAI:
        """The running event loop's client (see PerEventLoop)."""
        return self._async_clients.get()

    # --- request shaping -------------------------------------------------------------------

    def build_params(self, request: ChatRequest) -> dict[str, Any]:
        messages: list[dict[str, Any]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages += [{"role": m.role, "content": _content(m)} for m in request.messages]
        params: dict[str, Any] = {"model": request.model, "messages": messages}
        if request.max_tokens is not None:
            # OpenAI's newer models reject `max_tokens`; most compatible servers only know it.
            key = "max_tokens" if self.compatible else "max_completion_tokens"
            params[key] = request.max_tokens
        optional = {
            "temperature": request.temperature,
            "top_p": request.top_p,
            "stop": request.stop,
        }
        params.update({k: v for k, v in optional.items() if v is not None})
        return params

    # --- calls ------------------------------------------------------------------------------

    def _complete_once(self, request: ChatRequest) -> ChatResult:
        response = self.client.chat.completions.create(**self.build_params(request))
        # A proxy answering 200 with HTML makes the SDK hand back a bare string.
        if not isinstance(response, ChatCompletion) or not response.choices:
            raise MalformedResponse("OpenAI response was not a chat completion")
        choice = response.choices[0]
        text = choice.message.content or ""
        usage = response.usage
        return ChatResult(
            text=text,
            usage=usage_or_estimate(
                usage.prompt_tokens if usage else None,
                usage.completion_tokens if usage else None,
                request,
                text,
            ),
            finish_reason=normalize_finish(choice.finish_reason),
            model=request.model,
            provider=self.name,
        )

    def stream_params(self, request: ChatRequest) -> dict[str, Any]:
        return {
            **self.build_params(request),
            "stream": True,
            "stream_options": {"include_usage": True},
        }

    # Streams: the SDK sends the request (authentication, the outbound transport, and a
    # non-2xx answer raised as APIStatusError before the body is read); the chunks are
    # read as JSON, not as the SDK's pydantic models. Constructing three models per
    # delta (a runtime Protocol check in each) was a fifth of the CPU a worker spent
    # holding open streams (ADR 0110).

    def _stream_once(self, request: ChatRequest) -> Iterator[StreamEvent]:
        fold = _StreamFold(self.name, request)
        create = self.client.chat.completions.with_streaming_response.create
        with create(**self.stream_params(request)) as response:
            decoder = SSEDecoder()
            for line in response.iter_lines():
                for data in decoder.feed(line):
                    yield from fold.feed(data)
        yield from fold.end()

    async def _astream_once(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        fold = _StreamFold(self.name, request)
        create = self.async_client.chat.completions.with_streaming_response.create
        async with create(**self.stream_params(request)) as response:
            decoder = SSEDecoder()
            async for line in response.iter_lines():
                for data in decoder.feed(line):
                    for event in fold.feed(data):
                        yield event
        for event in fold.end():
            yield event

    def _embed_once(self, model: str, texts: list[str]) -> EmbeddingResult:
        response = self.client.embeddings.create(model=model, input=texts)
        if not isinstance(response, CreateEmbeddingResponse):
            raise MalformedResponse("OpenAI response was not an embedding list")
        vectors = [item.embedding for item in sorted(response.data, key=lambda d: d.index)]
        if len(vectors) != len(texts):
            raise MalformedResponse("OpenAI returned a different number of embeddings")
        usage = response.usage
        if usage is not None and usage.prompt_tokens is not None:
            result_usage = Usage.of(usage.prompt_tokens, 0)
        else:
            result_usage = Usage.of(sum(count_tokens(t, model) for t in texts), 0, estimated=True)
        return EmbeddingResult(vectors=vectors, usage=result_usage, model=model)

    def _verify_once(self) -> VerifyResult:
        # GET {base_url}/models: authenticated like every call, and free. OpenAI answers
        # with one unpaged list; a compatible server without this route (404) fails the
        # check on purpose, as that is also what a wrong base_url looks like.
        client = self.client
        try:
            page = client.models.list()
        except AttributeError as exc:
            # How the SDK's page parser fails on a 200 that is not JSON (a proxy's HTML
            # page): the list-call twin of the "bare string" check in _complete_once.
            raise MalformedResponse("OpenAI model list was not JSON") from exc
        data = getattr(page, "data", None)
        if not isinstance(data, list):
            raise MalformedResponse("OpenAI response was not a model list")
        label = "the OpenAI-compatible server" if self.compatible else "OpenAI"
        return models_listed(label, [getattr(m, "id", None) for m in data])

    # --- errors ------------------------------------------------------------------------------

    def translate_error(self, exc: Exception) -> ProviderError | None:
        if isinstance(exc, openai.APITimeoutError):
            return ProviderTimeout("OpenAI request timed out")
        if isinstance(exc, openai.APIConnectionError):
            return translate_transport(exc.__cause__) or ProviderUnavailable(
                outbound.UNREACHABLE_MESSAGE
            )
        if isinstance(exc, openai.APIStatusError):
            return error_for_status(
                exc.status_code,
                f"HTTP {exc.status_code}: {exc.message}",
                retry_after=retry_after_from_headers(exc.response.headers),
            )
        if isinstance(exc, openai.APIResponseValidationError):
            return MalformedResponse("OpenAI response did not match the expected schema")
        if isinstance(exc, openai.APIError):
            # e.g. an error object sent inside an SSE stream
            return ProviderUnavailable(f"OpenAI stream error: {exc.message}")
        return translate_transport(exc)


class _StreamFold:
    """Chat-completion chunks -> normalized events (shared by the sync and async streams)."""

    def __init__(self, provider: str, request: ChatRequest) -> None:
        self.provider, self.request = provider, request
        self.texts: list[str] = []
        self.finish: str | None = None
        self.usage: Usage | None = None

    def feed(self, data: str) -> list[StreamEvent]:
        """One SSE ``data`` field: a chat-completion chunk as JSON, or an error object."""
        chunk = json.loads(data)
        if not isinstance(chunk, dict):
            raise MalformedResponse(f"{self.provider} stream chunk was not a JSON object")
        if chunk.get("error"):
            # An error sent inside the stream (what the SDK raises as APIError).
            error = chunk["error"]
            message = error.get("message") if isinstance(error, dict) else None
            if not isinstance(message, str) or not message:
                message = "An error occurred during streaming"
            raise ProviderUnavailable(f"OpenAI stream error: {message}")
        events: list[StreamEvent] = []
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.usage = Usage.of(usage.get("prompt_tokens"), usage.get("completion_tokens"))
        choices = chunk.get("choices") or []
        if not isinstance(choices, list):
            raise MalformedResponse(f"{self.provider} stream chunk had no list of choices")
        for choice in choices:
            if not isinstance(choice, dict):
                raise MalformedResponse(f"{self.provider} stream choice was not a JSON object")
            delta = choice.get("delta")
            content = delta.get("content") if isinstance(delta, dict) else None
            if content:
                if not isinstance(content, str):
                    raise MalformedResponse(f"{self.provider} stream delta was not text")
                self.texts.append(content)
                events.append(TextDelta(content))
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]
        return events

    def end(self) -> list[StreamEvent]:
        if self.finish is None:
            raise stream_ended_early(self.provider)
        usage = self.usage or estimate_usage(self.request, "".join(self.texts))
        return [UsageEvent(usage), Finish(normalize_finish(self.finish))]


def _content(message: ChatMessage) -> str | list[dict[str, Any]]:
    """Text alone, or the text and its images as content parts (image_url data URLs)."""
    if not message.images:
        return message.content
    return [
        {"type": "text", "text": message.content},
        *(
            {"type": "image_url", "image_url": {"url": image.data_url()}}
            for image in message.images
        ),
    ]

"""Google Gemini via the official `google-genai` SDK (see docs/adr/0003-google-genai.md)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from functools import cached_property
from typing import Any

from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from core import outbound

from ._common import (
    estimate_usage,
    merge_consecutive,
    models_listed,
    normalize_finish,
    split_system,
    stream_ended_early,
    translate_transport,
    usage_or_estimate,
)
from .base import (
    ROLE_ASSISTANT,
    ChatProvider,
    ChatRequest,
    ChatResult,
    EmbeddingResult,
    Finish,
    StreamEvent,
    TextDelta,
    Usage,
    UsageEvent,
    VerifyResult,
)
from .errors import (
    AuthenticationFailed,
    InvalidRequest,
    MalformedResponse,
    ProviderError,
    error_for_status,
)
from .retry import retry_after_from_headers
from .tokens import count_tokens

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")
# The Gemini API's largest models page (default 50): one request gives an exact count.
MODELS_PAGE_SIZE = 1000


def _finish_name(candidate: Any) -> str | None:
    reason = getattr(candidate, "finish_reason", None)
    if reason is None:
        return None
    return str(getattr(reason, "value", reason)).lower()


def _candidate_text(candidate: Any) -> str:
    content = getattr(candidate, "content", None)
    parts = getattr(content, "parts", None) or []
    # Skip "thought" parts: thinking models return their reasoning separately.
    return "".join(p.text for p in parts if getattr(p, "text", None) and not p.thought)


def _block_reason(response: Any) -> Any:
    return getattr(getattr(response, "prompt_feedback", None), "block_reason", None)


def _retry_delay_from_details(details: Any) -> float | None:
    """Gemini puts the wait in a google.rpc.RetryInfo detail ("retryDelay": "12s")."""
    error = details.get("error", details) if isinstance(details, dict) else {}
    for item in error.get("details", []) if isinstance(error, dict) else []:
        delay = item.get("retryDelay") if isinstance(item, dict) else None
        match = _DURATION.match(delay) if isinstance(delay, str) else None
        if match:
            return float(match.group(1))
    return None


def _is_bad_key(exc: genai_errors.APIError) -> bool:
    # The Gemini API answers an invalid key with 400 INVALID_ARGUMENT, not 401.
    return "API_KEY_INVALID" in json.dumps(exc.details, default=str) or (
        "api key not valid" in (exc.message or "").lower()
    )


class GoogleProvider(ChatProvider):
    name = "google"

    @cached_property
    def client(self) -> genai.Client:
        if not self.config.api_key:
            # Never let the SDK fall back to GOOGLE_API_KEY / ADC: tenants bring their own.
            raise AuthenticationFailed("No API key configured for Google.", provider=self.name)
        http_options = types.HttpOptions(
            base_url=self.config.base_url,
            timeout=int(self.config.timeout * 1000),  # the SDK takes milliseconds
            retry_options=types.HttpRetryOptions(attempts=1),  # RetryPolicy retries
            # Every request through the outbound policy; the async transport keeps one
            # pool per event loop, like the SDK's own per-loop client would.
            client_args={"transport": outbound.transport()},
            async_client_args={"transport": outbound.async_transport()},
        )
        return genai.Client(api_key=self.config.api_key, vertexai=False, http_options=http_options)

    # --- request shaping -------------------------------------------------------------------

    def build_contents(self, request: ChatRequest) -> tuple[list[types.Content], str | None]:
        system, history = split_system(request)
        contents = [
            types.Content(
                role="model" if m.role == ROLE_ASSISTANT else "user",
                parts=[
                    types.Part(text=m.content),
                    *(types.Part.from_bytes(data=i.data, mime_type=i.media_type) for i in m.images),
                ],
            )
            for m in merge_consecutive(history)
        ]
        if not contents:
            raise InvalidRequest("Gemini needs at least one non-empty message.")
        return contents, system

    def build_config(self, request: ChatRequest, system: str | None) -> types.GenerateContentConfig:
        return types.GenerateContentConfig(
            system_instruction=system,
            temperature=request.temperature,
            top_p=request.top_p,
            max_output_tokens=request.max_tokens,
            stop_sequences=request.stop,
        )

    # --- calls ------------------------------------------------------------------------------

    def _complete_once(self, request: ChatRequest) -> ChatResult:
        contents, system = self.build_contents(request)
        response = self.client.models.generate_content(
            model=request.model, contents=contents, config=self.build_config(request, system)
        )
        if not response.candidates:
            if _block_reason(response) is None:
                raise MalformedResponse("Gemini returned no candidates")
            # The prompt itself was blocked: an answer (a refusal), not an outage to retry.
            return ChatResult(
                "", estimate_usage(request, ""), "content_filter", request.model, self.name
            )
        candidate = response.candidates[0]
        text = _candidate_text(candidate)
        meta = response.usage_metadata
        return ChatResult(
            text=text,
            usage=usage_or_estimate(
                meta.prompt_token_count if meta else None,
                meta.candidates_token_count if meta else None,
                request,
                text,
            ),
            finish_reason=normalize_finish(_finish_name(candidate)),
            model=request.model,
            provider=self.name,
        )

    def _stream_once(self, request: ChatRequest) -> Iterator[StreamEvent]:
        contents, system = self.build_contents(request)
        chunks = self.client.models.generate_content_stream(
            model=request.model, contents=contents, config=self.build_config(request, system)
        )
        fold = _StreamFold(self.name, request)
        for chunk in chunks:
            yield from fold.feed(chunk)
        yield from fold.end()

    async def _astream_once(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        # `client.aio` shares the client's configuration; its httpx client already keeps
        # one connection pool per event loop (google-genai's _PerLoopAsyncClientMixin).
        contents, system = self.build_contents(request)
        chunks = await self.client.aio.models.generate_content_stream(
            model=request.model, contents=contents, config=self.build_config(request, system)
        )
        fold = _StreamFold(self.name, request)
        try:
            async for chunk in chunks:
                for event in fold.feed(chunk):
                    yield event
        finally:
            await chunks.aclose()  # ends the HTTP stream when the caller stops early
        for event in fold.end():
            yield event

    def _embed_once(self, model: str, texts: list[str]) -> EmbeddingResult:
        # The SDK sends these as one batchEmbedContents call on the Gemini API.
        response = self.client.models.embed_content(model=model, contents=texts)
        vectors = [list(e.values or []) for e in response.embeddings or []]
        if len(vectors) != len(texts) or any(not v for v in vectors):
            raise MalformedResponse("Gemini returned a different number of embeddings")
        # The Gemini API reports no token usage for embeddings.
        usage = Usage.of(sum(count_tokens(t, model) for t in texts), 0, estimated=True)
        return EmbeddingResult(vectors=vectors, usage=usage, model=model)

    def _verify_once(self) -> VerifyResult:
        # GET /{api_version}/models with the key (google-genai 3.x defaults to v1, older
        # releases to v1beta). The SDK's Pager fetches the first page eagerly and the next
        # ones only when iterated past it, so read `.page`, never iterate.
        pager = self.client.models.list(config=types.ListModelsConfig(page_size=MODELS_PAGE_SIZE))
        # Names come as "models/gemini-2.5-flash"; the catalog uses the bare id.
        ids = [(m.name or "").removeprefix("models/") for m in pager.page]
        return models_listed("Google Gemini", ids, more=bool(pager.config.get("page_token")))

    # --- errors ------------------------------------------------------------------------------

    def translate_error(self, exc: Exception) -> ProviderError | None:
        if isinstance(exc, genai_errors.APIError):
            status = int(exc.code or 0)
            detail = f"HTTP {status} {exc.status or ''}: {exc.message or ''}".strip()
            if status == 400 and _is_bad_key(exc):
                return AuthenticationFailed(detail, status_code=status)
            headers = getattr(getattr(exc, "response", None), "headers", None)
            retry_after = retry_after_from_headers(headers) or _retry_delay_from_details(
                exc.details
            )
            return error_for_status(status, detail, retry_after=retry_after)
        if isinstance(exc, genai_errors.UnknownApiResponseError):
            return MalformedResponse("Gemini response was not valid JSON")
        return translate_transport(exc)


class _StreamFold:
    """generateContent stream chunks -> normalized events (shared by the sync and async
    streams)."""

    def __init__(self, provider: str, request: ChatRequest) -> None:
        self.provider, self.request = provider, request
        self.texts: list[str] = []
        self.finish: str | None = None
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None

    def feed(self, chunk: Any) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        for candidate in chunk.candidates or []:
            piece = _candidate_text(candidate)
            if piece:
                self.texts.append(piece)
                events.append(TextDelta(piece))
            self.finish = _finish_name(candidate) or self.finish
        if _block_reason(chunk) is not None:
            self.finish = "content_filter"
        if chunk.usage_metadata is not None:  # cumulative; the last one wins
            self.prompt_tokens = chunk.usage_metadata.prompt_token_count
            self.completion_tokens = chunk.usage_metadata.candidates_token_count
        return events

    def end(self) -> list[StreamEvent]:
        if self.finish is None:
            raise stream_ended_early(self.provider)
        text = "".join(self.texts)
        usage = usage_or_estimate(self.prompt_tokens, self.completion_tokens, self.request, text)
        return [UsageEvent(usage), Finish(normalize_finish(self.finish))]

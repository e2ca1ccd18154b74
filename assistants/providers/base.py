"""Provider-neutral data types and the one interface every AI call goes through.

This module is deliberately Django-free: plain dataclasses in, plain dataclasses out,
so the provider layer can be tested without a database.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from .errors import InvalidRequest, ProviderError
from .retry import RetryPolicy

T = TypeVar("T")

ROLE_SYSTEM = "system"
ROLE_USER = "user"
ROLE_ASSISTANT = "assistant"
ROLES = frozenset({ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT})


@dataclass(frozen=True)
class ImagePart:
    """An image sent with a message to a vision model (PNG, JPEG, GIF or WebP bytes)."""

    media_type: str
    data: bytes = field(repr=False)

    def base64(self) -> str:
        import base64

        return base64.b64encode(self.data).decode("ascii")

    def data_url(self) -> str:
        return f"data:{self.media_type};base64,{self.base64()}"


@dataclass(frozen=True)
class ChatMessage:
    role: str
    content: str
    # Images go with user messages to models with the "vision" capability; each adapter
    # sends them in its provider's image format.
    images: tuple[ImagePart, ...] = ()

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise InvalidRequest(f"Unknown message role {self.role!r}.")


@dataclass(frozen=True)
class Source:
    """A numbered knowledge-base passage the answer may cite as [index]."""

    index: int
    title: str
    text: str
    page: int | None = None


@dataclass
class ChatRequest:
    model: str
    messages: list[ChatMessage]
    system: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None
    sources: list[Source] = field(default_factory=list)


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    # True when we counted tokens ourselves because the provider reported none.
    estimated: bool = False

    @classmethod
    def of(cls, prompt_tokens: int, completion_tokens: int, *, estimated: bool = False) -> Usage:
        return cls(prompt_tokens, completion_tokens, prompt_tokens + completion_tokens, estimated)


@dataclass(frozen=True)
class ChatResult:
    text: str
    usage: Usage
    finish_reason: str  # normalized: stop | length | content_filter | tool_calls | other
    model: str  # the model requested (the catalog id), not a vendor's dated snapshot name
    provider: str


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class UsageEvent:
    usage: Usage


@dataclass(frozen=True)
class Finish:
    reason: str


@dataclass(frozen=True)
class FallbackUsed:
    """Emitted by the fallback helper before the fallback's own events, so callers can
    attribute the answer (and its cost) to the model that actually produced it."""

    provider: str
    model: str
    error: str


StreamEvent = TextDelta | UsageEvent | Finish | FallbackUsed


@dataclass(frozen=True)
class EmbeddingResult:
    vectors: list[list[float]]
    usage: Usage
    model: str = ""


# Model ids kept in a VerifyResult: enough to show an admin, small enough to store or log.
MAX_VERIFY_MODELS = 50


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of a credential check (`ChatProvider.verify`), which spends no tokens."""

    ok: bool
    message: str  # human readable, safe to show an organization admin
    models: list[str] = field(default_factory=list)  # ids the key can see, first 50 at most


@dataclass(frozen=True)
class ProviderConfig:
    provider: str
    api_key: str | None = field(default=None, repr=False)  # never shown in logs/tracebacks
    base_url: str | None = None
    organization: str | None = None
    timeout: float = 60.0
    max_retries: int = 2  # retries on top of the first attempt, done by our retry policy


class ChatProvider(abc.ABC):
    """One provider adapter. Subclasses implement single attempts (`_complete_once`,
    `_stream_once`, `_astream_once`, `_embed_once`, `_verify_once`); this base class adds
    the one retry policy and the error normalisation.

    `astream` is the async twin of `stream` (same events, errors and retries) over the
    SDK's async client: waiting on the provider then holds no thread, which is what lets
    one worker keep a thousand answers open (docs/adr/0007-async-provider-streaming.md).
    """

    name: str = "base"

    def __init__(self, config: ProviderConfig, retry_policy: RetryPolicy | None = None) -> None:
        self.config = config
        self.retry_policy = retry_policy or RetryPolicy(max_attempts=config.max_retries + 1)

    # Public API -----------------------------------------------------------------------

    def complete(self, request: ChatRequest) -> ChatResult:
        return self.retry_policy.call(lambda: self._guard(lambda: self._complete_once(request)))

    def stream(self, request: ChatRequest) -> Iterator[StreamEvent]:
        return self.retry_policy.stream(
            lambda: self._guard_iter(lambda: self._stream_once(request))
        )

    def astream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Close it when stopping early (``contextlib.aclosing``): that ends the HTTP
        stream at once instead of whenever the generator is garbage-collected."""
        return self.retry_policy.astream(
            lambda: self._guard_aiter(lambda: self._astream_once(request))
        )

    def embed(self, model: str, texts: list[str]) -> EmbeddingResult:
        return self.retry_policy.call(lambda: self._guard(lambda: self._embed_once(model, texts)))

    def verify(self) -> VerifyResult:
        """Check the configured credentials by listing models (no tokens are spent).

        A failure raises the normalized error (AuthenticationFailed for a bad key, never an
        SDK exception). Deliberately a single attempt, without the retry policy: an admin
        is waiting on the "test" button, and backing off on a 5xx or a Retry-After would
        park the request for seconds only to hide the outage the check should report.
        """
        return self._guard(self._verify_once)

    # Adapter hooks ----------------------------------------------------------------------

    @abc.abstractmethod
    def _complete_once(self, request: ChatRequest) -> ChatResult: ...

    @abc.abstractmethod
    def _stream_once(self, request: ChatRequest) -> Iterator[StreamEvent]: ...

    def _astream_once(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        raise InvalidRequest(f"Provider {self.name!r} cannot stream asynchronously.")

    def _embed_once(self, model: str, texts: list[str]) -> EmbeddingResult:
        raise InvalidRequest(f"Provider {self.name!r} does not offer embeddings.")

    def _verify_once(self) -> VerifyResult:
        raise InvalidRequest(f"Provider {self.name!r} cannot check its credentials.")

    def translate_error(self, exc: Exception) -> ProviderError | None:
        """Map an SDK/transport exception to a normalized ProviderError, or None when the
        exception is not a provider failure (a bug in our code must surface as itself,
        not be retried and reported as an outage)."""
        return None

    # Error normalisation ----------------------------------------------------------------

    def _guard(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except Exception as exc:
            error = self._normalized(exc)
            if error is None:
                raise
            raise error from _cause(exc)

    def _guard_iter(
        self, open_events: Callable[[], Iterator[StreamEvent]]
    ) -> Iterator[StreamEvent]:
        try:
            yield from open_events()
        except Exception as exc:
            error = self._normalized(exc)
            if error is None:
                raise
            raise error from _cause(exc)

    async def _guard_aiter(
        self, open_events: Callable[[], AsyncIterator[StreamEvent]]
    ) -> AsyncIterator[StreamEvent]:
        events = None
        try:
            events = open_events()
            async for event in events:
                yield event
        except Exception as exc:
            error = self._normalized(exc)
            if error is None:
                raise
            raise error from _cause(exc)
        finally:
            if events is not None:
                await events.aclose()

    def _normalized(self, exc: Exception) -> ProviderError | None:
        error = exc if isinstance(exc, ProviderError) else self.translate_error(exc)
        if error is None:
            return None
        error.provider = error.provider or self.name
        error.redact(self.config.api_key)
        return error


def _cause(exc: Exception) -> BaseException | None:
    # Keep the SDK exception as __cause__ for debugging; don't chain an error to itself.
    return exc.__cause__ if isinstance(exc, ProviderError) else exc

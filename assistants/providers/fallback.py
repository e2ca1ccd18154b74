"""Primary/fallback routing: when the primary model fails for a reason another model could
avoid (outage, timeout, rate limit — after retries), answer with the fallback instead."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import aclosing
from dataclasses import dataclass

from .base import ChatProvider, ChatRequest, ChatResult, FallbackUsed, StreamEvent
from .errors import NON_FALLBACK_ERRORS, ProviderError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    provider: ChatProvider
    request: ChatRequest

    @property
    def label(self) -> str:
        return f"{self.provider.name}/{self.request.model}"


# A fallback may be given lazily, so its credential is only resolved when it is needed.
FallbackTarget = Target | Callable[[], Target] | None


def _resolve(fallback: FallbackTarget) -> Target | None:
    return fallback() if callable(fallback) else fallback


def should_fall_back(error: ProviderError) -> bool:
    # Bad credentials or a malformed request are configuration bugs: a fallback would
    # only hide them (and could silently move a tenant's traffic to another vendor).
    return not isinstance(error, NON_FALLBACK_ERRORS)


def _log_fallback(primary: Target, fallback: Target, error: ProviderError) -> None:
    logger.warning(
        "AI provider %s failed with %s; using fallback %s",
        primary.label,
        type(error).__name__,
        fallback.label,
    )


def complete_with_fallback(primary: Target, fallback: FallbackTarget = None) -> ChatResult:
    try:
        return primary.provider.complete(primary.request)
    except ProviderError as error:
        if fallback is None or not should_fall_back(error):
            raise
        backup = _resolve(fallback)
        _log_fallback(primary, backup, error)
        return backup.provider.complete(backup.request)


def stream_with_fallback(primary: Target, fallback: FallbackTarget = None) -> Iterator[StreamEvent]:
    """Falls back only if the primary failed before emitting anything: once text has
    reached the caller, switching models would splice two different answers."""
    emitted = False
    try:
        for event in primary.provider.stream(primary.request):
            emitted = True
            yield event
        return
    except ProviderError as error:
        if emitted or fallback is None or not should_fall_back(error):
            raise
        backup = _resolve(fallback)
        _log_fallback(primary, backup, error)
        yield FallbackUsed(backup.provider.name, backup.request.model, type(error).__name__)
    yield from backup.provider.stream(backup.request)


async def astream_with_fallback(
    primary: Target, fallback: FallbackTarget = None
) -> AsyncIterator[StreamEvent]:
    """`stream_with_fallback` over the providers' async streams (same rules)."""
    emitted = False
    try:
        async with aclosing(primary.provider.astream(primary.request)) as events:
            async for event in events:
                emitted = True
                yield event
        return
    except ProviderError as error:
        if emitted or fallback is None or not should_fall_back(error):
            raise
        backup = _resolve(fallback)
        _log_fallback(primary, backup, error)
        yield FallbackUsed(backup.provider.name, backup.request.model, type(error).__name__)
    async with aclosing(backup.provider.astream(backup.request)) as events:
        async for event in events:
            yield event

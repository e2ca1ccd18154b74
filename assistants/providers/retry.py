"""The single retry policy for all providers (the SDKs' own retries are disabled).

Exponential backoff with jitter for retryable errors; a server's Retry-After wins over
the computed backoff. A Retry-After longer than the cap (``max_retry_after``) is not
waited at all: the provider has said that no attempt before then can succeed, so waiting
the cap (possibly twice) would only delay a certain failure. The error surfaces at once,
with its ``retry_after``, and the fallback model (if any) answers immediately. Streams are retried only until the first event reaches the caller: after that a
retry would duplicate text, so a failure surfaces as an error instead. The async stream
(`astream`) follows the same rules and waits with the event loop's sleep, so a backoff
parks no thread.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from .errors import ProviderError, RateLimited

logger = logging.getLogger(__name__)

T = TypeVar("T")
E = TypeVar("E")


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value: delta-seconds or an HTTP date."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; be lenient with naive ones
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def retry_after_from_headers(headers: Mapping[str, str] | None) -> float | None:
    """Prefer OpenAI's millisecond header (more precise), then the standard one."""
    if not headers:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    return parse_retry_after(headers.get("retry-after"))


@dataclass
class RetryPolicy:
    max_attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 20.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    async_sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)
    random: Callable[[], float] = field(default=random.random, repr=False)

    def delay_for(self, attempt: int, error: ProviderError) -> float:
        """Wait before attempt `attempt + 1` (attempt counts from 1)."""
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return min(error.retry_after, self.max_retry_after)
        backoff = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        # "Equal jitter": keep half the backoff, randomise the rest to spread herds.
        return backoff / 2 + self.random() * backoff / 2

    def _told_to_wait_too_long(self, error: ProviderError) -> bool:
        retry_after = error.retry_after if isinstance(error, RateLimited) else None
        if retry_after is None or retry_after <= self.max_retry_after:
            return False
        logger.info(
            "Not retrying AI provider call: Retry-After %.0fs exceeds the %.0fs cap",
            retry_after,
            self.max_retry_after,
        )
        return True

    def call(self, fn: Callable[[], T]) -> T:
        attempt = 1
        while True:
            try:
                return fn()
            except ProviderError as error:
                self._wait_or_raise(attempt, error)
                attempt += 1

    def stream(self, open_stream: Callable[[], Iterator[E]]) -> Iterator[E]:
        attempt = 1
        while True:
            events = open_stream()
            try:
                first = next(events)
            except StopIteration:
                return
            except ProviderError as error:
                self._wait_or_raise(attempt, error)
                attempt += 1
                continue
            try:
                yield first
                # The caller has seen output now: no more retries, errors propagate.
                yield from events
            finally:
                events.close()  # release the HTTP stream even if the caller stops early
            return

    async def astream(self, open_stream: Callable[[], AsyncIterator[E]]) -> AsyncIterator[E]:
        """`stream` for async generators: retried until the first event, then not."""
        attempt = 1
        while True:
            events = open_stream()
            try:
                first = await anext(events)
            except StopAsyncIteration:
                return
            except ProviderError as error:
                await _aclose(events)
                await self.async_sleep(self._delay_or_raise(attempt, error))
                attempt += 1
                continue
            except BaseException:  # cancelled while waiting for the first event
                await _aclose(events)
                raise
            try:
                yield first
                async for event in events:
                    yield event
            finally:
                await _aclose(events)  # release the HTTP stream even if the caller stops early
            return

    def _wait_or_raise(self, attempt: int, error: ProviderError) -> None:
        self.sleep(self._delay_or_raise(attempt, error))

    def _delay_or_raise(self, attempt: int, error: ProviderError) -> float:
        if (
            not error.retryable
            or attempt >= self.max_attempts
            or self._told_to_wait_too_long(error)
        ):
            raise error
        delay = self.delay_for(attempt, error)
        logger.info(
            "Retrying AI provider call after %s (attempt %d/%d, waiting %.2fs)",
            type(error).__name__,
            attempt,
            self.max_attempts,
            delay,
        )
        return delay


async def _aclose(events: AsyncIterator) -> None:
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        await aclose()

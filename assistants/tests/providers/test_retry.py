"""RetryPolicy on its own: delays, Retry-After parsing, stream semantics."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from assistants.providers.errors import (
    AuthenticationFailed,
    InvalidRequest,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from assistants.providers.retry import (
    RetryPolicy,
    parse_retry_after,
    retry_after_from_headers,
)

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


def policy(sleeps: list[float], **kwargs) -> RetryPolicy:
    return RetryPolicy(sleep=sleeps.append, random=lambda: 0.5, **kwargs)


def failing(*errors, result="done"):
    queue = list(errors)
    calls = []

    def fn():
        calls.append(1)
        if queue:
            raise queue.pop(0)
        return result

    return fn, calls


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", 5.0),
        (" 1.5 ", 1.5),
        ("-3", 0.0),
        ("Wed, 01 Jan 2025 12:00:30 GMT", 30.0),
        ("Wed, 01 Jan 2025 11:59:00 GMT", 0.0),  # in the past: retry now
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value, now=NOW) == expected


def test_retry_after_ms_header_is_preferred():
    assert retry_after_from_headers({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_from_headers({"retry-after": "9"}) == 9.0
    assert retry_after_from_headers({}) is None


def test_exponential_backoff_with_jitter_and_cap():
    p = RetryPolicy(base_delay=1.0, max_delay=4.0, random=lambda: 1.0)
    error = ProviderUnavailable()
    assert [p.delay_for(n, error) for n in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 4.0, 4.0]
    low = RetryPolicy(base_delay=1.0, max_delay=4.0, random=lambda: 0.0)
    assert [low.delay_for(n, error) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]


def test_retry_after_wins_over_backoff_but_is_capped():
    p = RetryPolicy(max_retry_after=10.0)
    assert p.delay_for(1, RateLimited(retry_after=3.0)) == 3.0
    assert p.delay_for(1, RateLimited(retry_after=3600.0)) == 10.0


def test_retryable_errors_are_retried_until_success():
    sleeps: list[float] = []
    fn, calls = failing(ProviderTimeout(), RateLimited(retry_after=2.0))
    assert policy(sleeps, max_attempts=3).call(fn) == "done"
    assert len(calls) == 3
    assert sleeps == [0.375, 2.0]


@pytest.mark.parametrize("error", [AuthenticationFailed(), InvalidRequest()])
def test_non_retryable_errors_raise_immediately(error):
    sleeps: list[float] = []
    fn, calls = failing(error)
    with pytest.raises(type(error)):
        policy(sleeps, max_attempts=5).call(fn)
    assert (len(calls), sleeps) == (1, [])


def test_gives_up_after_max_attempts():
    sleeps: list[float] = []
    fn, calls = failing(*[ProviderUnavailable()] * 5)
    with pytest.raises(ProviderUnavailable):
        policy(sleeps, max_attempts=3).call(fn)
    assert len(calls) == 3 and len(sleeps) == 2


def test_stream_retries_only_before_the_first_event():
    sleeps: list[float] = []
    attempts = []

    def open_stream():
        attempts.append(1)
        if len(attempts) == 1:
            raise ProviderUnavailable("before any output")
        yield "a"
        if len(attempts) == 2:
            raise ProviderUnavailable("after output")
        yield "b"

    received = []
    with pytest.raises(ProviderUnavailable, match="after output"):
        for item in policy(sleeps, max_attempts=5).stream(lambda: open_stream()):
            received.append(item)
    assert received == ["a"]
    assert len(attempts) == 2


def test_stream_closes_the_underlying_iterator_when_abandoned():
    closed = []

    def open_stream():
        try:
            yield 1
            yield 2
        finally:
            closed.append(True)

    stream = RetryPolicy().stream(open_stream)
    assert next(stream) == 1
    stream.close()
    assert closed == [True]

"""Failure handling shared by every SDK-backed adapter: the same scenarios, three wire
protocols. Backoff sleeps are recorded, not slept."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from assistants.providers.base import Finish, ProviderConfig, TextDelta
from assistants.providers.errors import (
    AuthenticationFailed,
    MalformedResponse,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from assistants.providers.registry import get_provider
from assistants.providers.retry import RetryPolicy

from .conftest import chat
from .fake_server import Reply, error, raw

VENDORS = ["openai", "anthropic", "google"]
TEXT = "one two three four five six"


def collect(provider, request=None):
    return list(provider.stream(request or chat()))


def joined(events):
    return "".join(e.text for e in events if isinstance(e, TextDelta))


@pytest.mark.parametrize("vendor", VENDORS)
def test_429_retry_after_is_honoured_then_succeeds(vendor, server, make_provider, sleeps):
    server.enqueue(error(429, retry_after="7"), Reply(text="ok"))
    result = make_provider(vendor).complete(chat())

    assert result.text == "ok"
    assert sleeps == [7.0]
    assert len(server.requests) == 2


@pytest.mark.parametrize("vendor", VENDORS)
def test_429_retry_after_http_date_beyond_the_cap_fails_fast(vendor, server, make_provider, sleeps):
    later = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    server.enqueue(error(429, retry_after=later), Reply(text="never asked for"))
    with pytest.raises(RateLimited) as info:
        make_provider(vendor).complete(chat())
    assert info.value.retry_after > 3500
    assert sleeps == []  # no capped wait for an attempt the provider said would fail
    assert len(server.requests) == 1


@pytest.mark.parametrize("vendor", VENDORS)
def test_429_retry_after_600_fails_fast_instead_of_waiting_the_cap_twice(
    vendor, server, make_provider, sleeps
):
    server.enqueue(*[error(429, retry_after="600")] * 3)
    with pytest.raises(RateLimited) as info:
        make_provider(vendor, max_attempts=3).complete(chat())
    assert info.value.retry_after == 600.0  # the API passes it on as Retry-After
    assert sleeps == []
    assert len(server.requests) == 1


@pytest.mark.parametrize("vendor", VENDORS)
def test_stream_429_retry_after_600_fails_fast(vendor, server, make_provider, sleeps):
    server.enqueue(*[error(429, retry_after="600")] * 3)
    with pytest.raises(RateLimited):
        collect(make_provider(vendor))
    assert sleeps == [] and len(server.requests) == 1


@pytest.mark.parametrize("vendor", VENDORS)
def test_429_retry_after_at_the_cap_is_still_waited(vendor, server, make_provider, sleeps):
    server.enqueue(error(429, retry_after="20"), Reply(text="ok"))
    assert make_provider(vendor).complete(chat()).text == "ok"
    assert sleeps == [20.0]


@pytest.mark.parametrize("vendor", VENDORS)
def test_rate_limit_exhausted_surfaces_retry_after(vendor, server, make_provider, sleeps):
    server.enqueue(*[error(429, retry_after="2")] * 2)
    with pytest.raises(RateLimited) as info:
        make_provider(vendor, max_attempts=2).complete(chat())
    assert info.value.retry_after == 2.0
    assert info.value.retryable is True


def test_gemini_retry_info_detail_is_honoured(server, make_provider, sleeps):
    body = {
        "error": {
            "code": 429,
            "message": "Resource has been exhausted",
            "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "13s"}],
        }
    }
    server.enqueue(raw(json.dumps(body).encode(), status=429), Reply(text="ok"))
    assert make_provider("google").complete(chat()).text == "ok"
    assert sleeps == [13.0]


@pytest.mark.parametrize("vendor", VENDORS)
def test_500_is_retried_with_backoff_then_unavailable(vendor, server, make_provider, sleeps):
    server.enqueue(*[error(500)] * 3)
    with pytest.raises(ProviderUnavailable) as info:
        make_provider(vendor, max_attempts=3).complete(chat())

    assert len(server.requests) == 3
    # equal jitter with random()=0.5: 0.5 -> 0.375, 1.0 -> 0.75
    assert sleeps == [0.375, 0.75]
    assert info.value.provider == vendor
    assert info.value.user_message == "The AI provider is temporarily unavailable."


@pytest.mark.parametrize("vendor", VENDORS)
def test_503_then_success_within_a_stream(vendor, server, make_provider, sleeps):
    server.enqueue(error(503), Reply(text=TEXT))
    events = collect(make_provider(vendor))
    assert joined(events) == TEXT
    assert len(sleeps) == 1


@pytest.mark.parametrize("vendor", VENDORS)
def test_bad_key_fails_fast_without_retry(vendor, server, make_provider, sleeps):
    with pytest.raises(AuthenticationFailed) as info:
        make_provider(vendor, api_key="wrong-key-123456").complete(chat())
    assert len(server.requests) == 1
    assert sleeps == []
    assert info.value.retryable is False


@pytest.mark.parametrize("vendor", VENDORS)
def test_missing_key_never_falls_back_to_environment(vendor, server, make_provider, monkeypatch):
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.setenv(name, "test-key")  # would be accepted by the server
    with pytest.raises(AuthenticationFailed):
        make_provider(vendor, api_key=None).complete(chat())
    assert server.requests == []


@pytest.mark.parametrize("vendor", VENDORS)
def test_error_details_never_contain_the_api_key(vendor, server, make_provider):
    secret = "sk-live-SECRET-0123456789abcdef"
    server.api_key = secret
    server.enqueue(error(400, message=f"Bad request for key {secret}"))
    with pytest.raises(ProviderError) as info:
        make_provider(vendor, api_key=secret).complete(chat())
    for text in (str(info.value), repr(info.value), info.value.detail, info.value.user_message):
        assert secret not in text


@pytest.mark.parametrize("vendor", VENDORS)
def test_malformed_json_is_an_error_not_a_crash(vendor, server, make_provider):
    server.enqueue(raw(b'{"id": "x", "choices": [{"mess'))
    with pytest.raises(MalformedResponse):
        make_provider(vendor, max_attempts=1).complete(chat())


@pytest.mark.parametrize("vendor", VENDORS)
def test_malformed_json_is_retried(vendor, server, make_provider):
    server.enqueue(raw(b"<html>bad gateway</html>", content_type="text/html"), Reply(text="ok"))
    assert make_provider(vendor).complete(chat()).text == "ok"


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("cut_mode", ["abort", "clean"])
def test_stream_cut_midway_raises_after_partial_text(vendor, cut_mode, server, make_provider):
    server.enqueue(Reply(text=TEXT, cut_after=2, cut_mode=cut_mode))
    received = []
    with pytest.raises(MalformedResponse):
        for event in make_provider(vendor).stream(chat()):
            received.append(event)

    # The caller saw the partial text but never a Finish: it cannot pass as a success.
    assert joined(received) == "one two "
    assert not any(isinstance(e, Finish) for e in received)
    assert len(server.requests) == 1  # no retry once text was emitted (no duplicates)


@pytest.mark.parametrize("vendor", VENDORS)
def test_stream_cut_before_first_token_is_retried(vendor, server, make_provider, sleeps):
    server.enqueue(Reply(text=TEXT, cut_after=0), Reply(text=TEXT))
    events = collect(make_provider(vendor))
    assert joined(events) == TEXT  # exactly once, no duplicated prefix
    assert isinstance(events[-1], Finish)
    assert len(server.requests) == 2


@pytest.mark.parametrize("vendor", VENDORS)
def test_timeout(vendor, server, make_provider):
    server.enqueue(Reply(delay=2.0), Reply(delay=2.0))
    with pytest.raises(ProviderTimeout) as info:
        make_provider(vendor, timeout=0.2, max_attempts=2).complete(chat())
    assert len(server.requests) == 2  # timeouts are retryable
    assert info.value.retryable is True


@pytest.mark.parametrize("vendor", VENDORS)
def test_stream_timeout(vendor, server, make_provider):
    server.enqueue(Reply(delay=2.0))
    with pytest.raises(ProviderTimeout):
        collect(make_provider(vendor, timeout=0.2, max_attempts=1))


@pytest.mark.parametrize("vendor", VENDORS)
def test_unreachable_server_is_unavailable(vendor):
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = ProviderConfig(vendor, api_key="test-key", base_url=f"http://127.0.0.1:{port}")
    provider = get_provider(config, retry_policy=RetryPolicy(max_attempts=1))
    with pytest.raises(ProviderUnavailable):
        provider.complete(chat())


@pytest.mark.parametrize("vendor", VENDORS)
def test_in_stream_error_event_after_text_is_raised(vendor, server, make_provider):
    server.enqueue(Reply(text=TEXT, cut_after=2, cut_mode="error", message="Overloaded"))
    received = []
    with pytest.raises(ProviderUnavailable):
        for event in make_provider(vendor).stream(chat()):
            received.append(event)
    assert joined(received) == "one two "
    assert len(server.requests) == 1


@pytest.mark.parametrize("vendor", VENDORS)
def test_in_stream_error_event_before_text_is_retried(vendor, server, make_provider, sleeps):
    server.enqueue(Reply(text=TEXT, cut_after=0, cut_mode="error"), Reply(text=TEXT))
    assert joined(collect(make_provider(vendor))) == TEXT
    assert len(server.requests) == 2 and len(sleeps) == 1

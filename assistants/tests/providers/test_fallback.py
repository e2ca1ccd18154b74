"""Primary -> fallback routing across real adapters on the fake server."""

from __future__ import annotations

import pytest

from assistants.providers.base import FallbackUsed, Finish, TextDelta
from assistants.providers.errors import AuthenticationFailed, InvalidRequest, MalformedResponse
from assistants.providers.fallback import Target, complete_with_fallback, stream_with_fallback

from .conftest import chat
from .fake_server import Reply, error


def targets(make_provider, primary_attempts=2):
    primary = Target(make_provider("openai", max_attempts=primary_attempts), chat(model="gpt-x"))
    fallback = Target(make_provider("anthropic"), chat(model="claude-y"))
    return primary, fallback


def test_fallback_model_answers_when_primary_is_unavailable(server, make_provider, sleeps):
    primary, fallback = targets(make_provider)
    server.enqueue(error(503), error(503), Reply(text="from the fallback"))

    result = complete_with_fallback(primary, fallback)

    assert (result.text, result.provider, result.model) == (
        "from the fallback",
        "anthropic",
        "claude-y",
    )
    assert [r.path for r in server.requests] == [
        "/v1/chat/completions",
        "/v1/chat/completions",  # primary retried first
        "/v1/messages",
    ]
    assert server.last.body["model"] == "claude-y"


def test_fallback_after_rate_limit_and_timeout(server, make_provider):
    primary, fallback = targets(make_provider, primary_attempts=1)
    server.enqueue(error(429, retry_after="1"), Reply(text="fallback"))
    assert complete_with_fallback(primary, fallback).provider == "anthropic"


def test_retry_after_beyond_the_cap_switches_to_the_fallback_at_once(server, make_provider, sleeps):
    primary, fallback = targets(make_provider, primary_attempts=3)
    server.enqueue(error(429, retry_after="600"), Reply(text="fallback"))

    result = complete_with_fallback(primary, fallback)

    assert (result.text, result.provider) == ("fallback", "anthropic")
    assert sleeps == []  # no 2 x 20 s of waiting for a primary that said "in 10 minutes"
    assert [r.path for r in server.requests] == ["/v1/chat/completions", "/v1/messages"]


def test_stream_retry_after_beyond_the_cap_switches_to_the_fallback_at_once(
    server, make_provider, sleeps
):
    primary, fallback = targets(make_provider, primary_attempts=3)
    server.enqueue(error(429, retry_after="600"), Reply(text="fallback answer"))

    events = list(stream_with_fallback(primary, fallback))

    assert events[0] == FallbackUsed("anthropic", "claude-y", "RateLimited")
    assert sleeps == []
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    ("status", "expected"), [(401, AuthenticationFailed), (400, InvalidRequest)]
)
def test_no_fallback_for_auth_or_invalid_request(status, expected, server, make_provider):
    primary, fallback = targets(make_provider)
    server.enqueue(error(status))
    with pytest.raises(expected):
        complete_with_fallback(primary, fallback)
    assert len(server.requests) == 1  # neither retried nor sent to the fallback


def test_without_fallback_the_primary_error_surfaces(server, make_provider):
    primary, _ = targets(make_provider)
    server.enqueue(error(500), error(500))
    with pytest.raises(Exception, match="HTTP 500"):
        complete_with_fallback(primary, None)


def test_stream_falls_back_before_any_text(server, make_provider):
    primary, fallback = targets(make_provider)
    server.enqueue(error(500), error(500), Reply(text="fallback answer"))

    events = list(stream_with_fallback(primary, fallback))

    assert events[0] == FallbackUsed("anthropic", "claude-y", "ProviderUnavailable")
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "fallback answer"
    assert isinstance(events[-1], Finish)


def test_stream_never_falls_back_after_text_was_emitted(server, make_provider):
    primary, fallback = targets(make_provider)
    server.enqueue(Reply(text="partial answer that breaks", cut_after=2))
    received = []
    with pytest.raises(MalformedResponse):
        for event in stream_with_fallback(primary, fallback):
            received.append(event)
    assert not any(isinstance(e, FallbackUsed) for e in received)
    assert len(server.requests) == 1


def test_stream_primary_success_is_untouched(server, make_provider):
    primary, fallback = targets(make_provider)
    events = list(stream_with_fallback(primary, fallback))
    assert not any(isinstance(e, FallbackUsed) for e in events)
    assert len(server.requests) == 1

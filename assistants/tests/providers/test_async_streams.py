"""`ChatProvider.astream`: the async clients of the real SDKs against the fake server's
wire protocols. Same events, errors, retries and fallback as the sync `stream`.

Each test runs its coroutine with ``asyncio.run`` (a fresh event loop), which is also
how the per-loop client cache gets exercised.
"""

from __future__ import annotations

import asyncio
import gc
import time
from contextlib import aclosing

import pytest

from assistants.providers.base import (
    FallbackUsed,
    Finish,
    ProviderConfig,
    StreamEvent,
    TextDelta,
    Usage,
    UsageEvent,
)
from assistants.providers.errors import (
    AuthenticationFailed,
    MalformedResponse,
    ProviderUnavailable,
    RateLimited,
)
from assistants.providers.fallback import Target, astream_with_fallback
from assistants.providers.registry import get_provider

from .conftest import chat
from .fake_server import Reply, error

VENDORS = ["openai", "openai_compatible", "anthropic", "google"]
TEXT = "one two three four five six"


async def _collect(events) -> list[StreamEvent]:
    async with aclosing(events) as stream:
        return [event async for event in stream]


def collect(provider, request=None) -> list[StreamEvent]:
    return asyncio.run(_collect(provider.astream(request or chat())))


def collect_until_error(events) -> tuple[list[StreamEvent], Exception]:
    received: list[StreamEvent] = []

    async def run() -> None:
        async with aclosing(events) as stream:
            async for event in stream:
                received.append(event)

    with pytest.raises(Exception) as info:  # the type is asserted by callers
        asyncio.run(run())
    return received, info.value


def joined(events) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


@pytest.mark.parametrize("vendor", VENDORS)
def test_stream_with_usage(vendor, server, make_provider):
    server.enqueue(Reply(text=TEXT, usage=(20, 8)))

    events = collect(make_provider(vendor))

    assert len([e for e in events if isinstance(e, TextDelta)]) > 1  # really streamed
    assert joined(events) == TEXT
    assert events[-2:] == [UsageEvent(Usage(20, 8, 28)), Finish("stop")]
    assert len(server.requests) == 1


def test_openai_stream_asks_for_the_usage_chunk(server, make_provider):
    collect(make_provider("openai"))
    assert server.last.path == "/v1/chat/completions"
    assert server.last.body["stream"] is True
    assert server.last.body["stream_options"] == {"include_usage": True}
    assert server.last.headers["authorization"] == "Bearer test-key"


def test_anthropic_stream_sends_the_system_parameter(server, make_provider):
    collect(make_provider("anthropic"), chat(system="Be brief."))
    assert server.last.path == "/v1/messages"
    assert server.last.body["stream"] is True
    assert server.last.body["system"] == "Be brief."


def test_google_stream_uses_stream_generate_content(server, make_provider):
    collect(make_provider("google"), chat(model="gemini-2.5-flash"))
    assert server.last.path.endswith("/models/gemini-2.5-flash:streamGenerateContent")
    assert server.last.query.get("alt") == "sse"


# Anthropic's stream always carries usage (message_start / message_delta).
@pytest.mark.parametrize("vendor", ["openai", "openai_compatible", "google"])
def test_missing_usage_is_estimated(vendor, server, make_provider):
    server.enqueue(Reply(text=TEXT, usage=None))
    usage = next(e.usage for e in collect(make_provider(vendor)) if isinstance(e, UsageEvent))
    assert usage.estimated is True and usage.completion_tokens > 0


@pytest.mark.parametrize("vendor", VENDORS)
def test_rate_limit_before_the_first_token_waits_retry_after_then_streams(
    vendor, server, make_provider, sleeps
):
    server.enqueue(error(429, retry_after="7"), Reply(text=TEXT))

    events = collect(make_provider(vendor))

    assert joined(events) == TEXT  # once: nothing from the failed attempt
    assert sleeps == [7.0]  # awaited with the policy's async sleep
    assert len(server.requests) == 2


@pytest.mark.parametrize("vendor", VENDORS)
def test_rate_limit_with_retry_after_beyond_the_cap_fails_fast(
    vendor, server, make_provider, sleeps
):
    server.enqueue(*[error(429, retry_after="600")] * 3)

    _, raised = collect_until_error(make_provider(vendor, max_attempts=3).astream(chat()))

    assert isinstance(raised, RateLimited) and raised.retry_after == 600.0
    assert sleeps == []  # neither slept nor retried: the provider said "not before 10 min"
    assert len(server.requests) == 1


@pytest.mark.parametrize("vendor", VENDORS)
def test_outage_before_the_first_token_is_retried_with_backoff(
    vendor, server, make_provider, sleeps
):
    server.enqueue(error(503), error(500), Reply(text=TEXT))
    assert joined(collect(make_provider(vendor, max_attempts=3))) == TEXT
    assert sleeps == [0.375, 0.75]  # equal jitter with random() = 0.5


@pytest.mark.parametrize("vendor", VENDORS)
def test_retries_exhausted_surface_the_normalized_error(vendor, server, make_provider, sleeps):
    server.enqueue(error(429, retry_after="2"), error(429, retry_after="2"))
    _, raised = collect_until_error(make_provider(vendor, max_attempts=2).astream(chat()))
    assert isinstance(raised, RateLimited)
    assert raised.retry_after == 2.0 and raised.provider == vendor
    assert sleeps == [2.0]


@pytest.mark.parametrize("vendor", VENDORS)
def test_bad_key_fails_fast(vendor, server, make_provider, sleeps):
    provider = make_provider(vendor, api_key="wrong-key-123456")
    _, raised = collect_until_error(provider.astream(chat()))
    assert isinstance(raised, AuthenticationFailed)
    assert len(server.requests) == 1 and sleeps == []


@pytest.mark.parametrize("vendor", ["openai", "anthropic", "google"])
def test_missing_key_is_refused_before_any_request(vendor, server, make_provider):
    _, raised = collect_until_error(make_provider(vendor, api_key=None).astream(chat()))
    assert isinstance(raised, AuthenticationFailed)
    assert server.requests == []


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("cut_mode", ["abort", "clean"])
def test_stream_cut_midway_raises_after_partial_text(vendor, cut_mode, server, make_provider):
    server.enqueue(Reply(text=TEXT, cut_after=2, cut_mode=cut_mode))

    received, raised = collect_until_error(make_provider(vendor).astream(chat()))

    assert isinstance(raised, MalformedResponse)
    assert joined(received) == "one two "
    assert not any(isinstance(e, Finish) for e in received)
    assert len(server.requests) == 1  # no retry once text was emitted (no duplicates)


@pytest.mark.parametrize("vendor", VENDORS)
def test_in_stream_error_event_after_text_is_raised(vendor, server, make_provider):
    server.enqueue(Reply(text=TEXT, cut_after=2, cut_mode="error", message="Overloaded"))
    received, raised = collect_until_error(make_provider(vendor).astream(chat()))
    assert isinstance(raised, ProviderUnavailable)
    assert joined(received) == "one two "


@pytest.mark.parametrize("vendor", VENDORS)
def test_stream_cut_before_the_first_token_is_retried(vendor, server, make_provider, sleeps):
    server.enqueue(Reply(text=TEXT, cut_after=0), Reply(text=TEXT))
    events = collect(make_provider(vendor))
    assert joined(events) == TEXT
    assert isinstance(events[-1], Finish)
    assert len(server.requests) == 2 and len(sleeps) == 1


@pytest.mark.parametrize("vendor", VENDORS)
def test_stopping_early_closes_the_provider_stream(vendor, server, make_provider):
    # A slow answer: reading it to the end would take 50 x 0.05 s.
    server.enqueue(Reply(text=" ".join(["word"] * 50), chunk_delay=0.05))

    async def two_deltas_then_stop() -> list[str]:
        texts: list[str] = []
        async with aclosing(make_provider(vendor).astream(chat())) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    texts.append(event.text)
                if len(texts) == 2:
                    break
        return texts

    started = time.perf_counter()
    texts = asyncio.run(two_deltas_then_stop())
    assert len(texts) == 2
    assert time.perf_counter() - started < 1.5


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_cancelled_stream_raises_cancelled_not_a_provider_error(vendor, server, make_provider):
    server.enqueue(Reply(text=" ".join(["word"] * 50), chunk_delay=0.05))
    seen: list[StreamEvent] = []

    async def cancel_after_first_delta() -> None:
        async def consume() -> None:
            async with aclosing(make_provider(vendor).astream(chat())) as events:
                async for event in events:
                    seen.append(event)

        task = asyncio.ensure_future(consume())
        while not seen:
            await asyncio.sleep(0.01)
        task.cancel()  # what a client disconnect does to the response task
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_after_first_delta())
    assert len(server.requests) == 1
    assert not any(isinstance(e, Finish) for e in seen)


@pytest.mark.parametrize("vendor", VENDORS)
def test_many_streams_share_one_loop_without_threads(vendor, server, make_provider):
    # 20 slow answers at once: concurrent on one event loop, so about one answer's time.
    server.enqueue(*[Reply(text="a b c d e", chunk_delay=0.1) for _ in range(20)])
    provider = make_provider(vendor)

    async def many() -> list[list[StreamEvent]]:
        return await asyncio.gather(*(_collect(provider.astream(chat())) for _ in range(20)))

    started = time.perf_counter()
    results = asyncio.run(many())
    elapsed = time.perf_counter() - started
    assert all(joined(events) == "a b c d e" for events in results)
    assert elapsed < 20 * 0.5 / 2  # far below the 10 s of one answer after another


# --- the per-loop client cache --------------------------------------------------------------


@pytest.mark.parametrize("vendor", ["openai", "anthropic"])
def test_one_client_per_event_loop_reused_within_the_loop(vendor, server, make_provider):
    provider = make_provider(vendor)

    async def two_answers_and_the_clients():
        await _collect(provider.astream(chat()))
        first = provider.async_client
        await _collect(provider.astream(chat()))
        return first, provider.async_client

    first, second = asyncio.run(two_answers_and_the_clients())
    assert first is second  # built once per loop, not per answer
    third, _ = asyncio.run(two_answers_and_the_clients())
    assert third is not first  # a new loop gets its own client (sockets belong to a loop)
    # The next loop finds the closed ones and drops their clients.
    asyncio.run(two_answers_and_the_clients())
    gc.collect()
    assert len(provider._async_clients) <= 1


@pytest.mark.parametrize("vendor", VENDORS)
def test_loops_in_turn_each_stream_fine(vendor, server, make_provider):
    # What tests and async_to_sync do: a fresh loop per call, the same adapter.
    provider = make_provider(vendor)
    for _ in range(3):
        assert joined(collect(provider)) == "Hello from the fake server."


# --- fallback ---------------------------------------------------------------------------------


def targets(make_provider, primary_attempts=2):
    primary = Target(make_provider("openai", max_attempts=primary_attempts), chat(model="gpt-x"))
    fallback = Target(make_provider("anthropic"), chat(model="claude-y"))
    return primary, fallback


def test_fallback_answers_when_the_primary_fails_before_any_text(server, make_provider, sleeps):
    primary, fallback = targets(make_provider)
    server.enqueue(error(500), error(500), Reply(text="fallback answer"))

    events = asyncio.run(_collect(astream_with_fallback(primary, fallback)))

    assert events[0] == FallbackUsed("anthropic", "claude-y", "ProviderUnavailable")
    assert joined(events) == "fallback answer"
    assert isinstance(events[-1], Finish)
    assert [r.path for r in server.requests] == [
        "/v1/chat/completions",
        "/v1/chat/completions",  # the primary is retried first
        "/v1/messages",
    ]


def test_retry_after_beyond_the_cap_switches_to_the_fallback_at_once(server, make_provider, sleeps):
    primary, fallback = targets(make_provider, primary_attempts=3)
    server.enqueue(error(429, retry_after="600"), Reply(text="fallback answer"))

    events = asyncio.run(_collect(astream_with_fallback(primary, fallback)))

    assert events[0] == FallbackUsed("anthropic", "claude-y", "RateLimited")
    assert joined(events) == "fallback answer"
    assert sleeps == []
    assert [r.path for r in server.requests] == ["/v1/chat/completions", "/v1/messages"]


def test_no_fallback_once_text_was_emitted(server, make_provider):
    primary, fallback = targets(make_provider)
    server.enqueue(Reply(text="partial answer that breaks", cut_after=2))

    received, raised = collect_until_error(astream_with_fallback(primary, fallback))

    assert isinstance(raised, MalformedResponse)
    assert not any(isinstance(e, FallbackUsed) for e in received)
    assert len(server.requests) == 1


def test_no_fallback_for_a_bad_key(server, make_provider):
    primary = Target(make_provider("openai", api_key="wrong-key-123456"), chat(model="gpt-x"))
    _, fallback = targets(make_provider)
    _, raised = collect_until_error(astream_with_fallback(primary, fallback))
    assert isinstance(raised, AuthenticationFailed)
    assert len(server.requests) == 1


def test_primary_success_leaves_the_fallback_alone(server, make_provider):
    primary, fallback = targets(make_provider)
    events = asyncio.run(_collect(astream_with_fallback(primary, fallback)))
    assert not any(isinstance(e, FallbackUsed) for e in events)
    assert len(server.requests) == 1


# --- the local extractive responder -----------------------------------------------------------


def test_local_responder_streams_the_same_answer_as_the_sync_stream():
    from .test_local import ask

    provider = get_provider(ProviderConfig("local"))
    request = ask("How long do refunds take?")

    events = asyncio.run(_collect(provider.astream(request)))

    assert events == list(provider.stream(request))
    assert len([e for e in events if isinstance(e, TextDelta)]) > 1
    assert "[2]" in joined(events)
    assert isinstance(events[-1], Finish)

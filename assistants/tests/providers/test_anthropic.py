"""Anthropic adapter against the fake server's Messages API wire protocol."""

from __future__ import annotations

import asyncio
import json
from contextlib import aclosing

import pytest

from assistants.providers.anthropic_provider import DEFAULT_MAX_TOKENS
from assistants.providers.base import (
    ChatMessage,
    ChatRequest,
    Finish,
    TextDelta,
    Usage,
    UsageEvent,
)
from assistants.providers.errors import (
    InvalidRequest,
    MalformedResponse,
    ProviderUnavailable,
    RateLimited,
)

from .conftest import chat
from .fake_server import Reply, raw


def test_system_prompt_goes_in_the_system_parameter(server, make_provider):
    request = ChatRequest(
        model="claude-test",
        system="You are a support bot.",
        messages=[ChatMessage("system", "Cite sources."), ChatMessage("user", "Hi")],
        temperature=0.2,
        max_tokens=300,
        stop=["\n\nHuman:"],
    )
    result = make_provider("anthropic").complete(request)

    assert result.text == "Hello from the fake server."
    assert result.usage == Usage(11, 7, 18)
    assert (result.finish_reason, result.provider) == ("stop", "anthropic")
    body = server.last.body
    assert server.last.path == "/v1/messages"
    assert body["system"] == "You are a support bot.\n\nCite sources."
    assert all(m["role"] != "system" for m in body["messages"])
    assert body["messages"] == [{"role": "user", "content": "Hi"}]
    assert body["model"] == "claude-test"
    assert body["max_tokens"] == 300
    assert body["temperature"] == 0.2
    assert body["stop_sequences"] == ["\n\nHuman:"]


def test_messages_are_made_to_alternate_starting_with_user(server, make_provider):
    request = ChatRequest(
        model="claude-test",
        messages=[
            ChatMessage("assistant", "Welcome! How can I help?"),  # canned greeting
            ChatMessage("user", "First question."),
            ChatMessage("user", "Second question."),
            ChatMessage("assistant", "Answer one."),
            ChatMessage("assistant", "Answer two."),
            ChatMessage("user", "   "),  # empty turns are rejected by the API
            ChatMessage("user", "Thanks."),
        ],
    )
    make_provider("anthropic").complete(request)

    assert server.last.body["messages"] == [
        {"role": "user", "content": "First question.\n\nSecond question."},
        {"role": "assistant", "content": "Answer one.\n\nAnswer two."},
        {"role": "user", "content": "Thanks."},
    ]


def test_defaults_max_tokens_and_sends_only_one_sampling_knob(server, make_provider):
    make_provider("anthropic").complete(chat(temperature=0.5, top_p=0.9))
    body = server.last.body
    assert body["max_tokens"] == DEFAULT_MAX_TOKENS
    assert body["temperature"] == 0.5
    assert "top_p" not in body  # current Claude models reject both together

    make_provider("anthropic").complete(chat(top_p=0.8))
    assert server.last.body["top_p"] == 0.8
    assert "temperature" not in server.last.body
    assert "system" not in server.last.body


def test_conversation_without_user_text_is_invalid(server, make_provider):
    request = ChatRequest(model="claude-test", messages=[ChatMessage("assistant", "Hi")])
    with pytest.raises(InvalidRequest):
        make_provider("anthropic").complete(request)
    assert server.requests == []


def test_stream_events_and_usage(server, make_provider):
    server.enqueue(Reply(text="Refunds take five days.", usage=(42, 6), finish="max_tokens"))
    events = list(make_provider("anthropic").stream(chat()))

    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Refunds take five days."
    # input tokens come from message_start, output tokens from message_delta
    assert events[-2:] == [UsageEvent(Usage(42, 6, 48)), Finish("length")]
    assert server.last.body["stream"] is True


def test_embeddings_are_not_offered(make_provider):
    with pytest.raises(InvalidRequest):
        make_provider("anthropic").embed("any", ["text"])


# --- the stream read as server-sent events (ADR 0110) -----------------------------------


def _sse(*events: tuple[str | None, str]) -> bytes:
    return b"".join(
        (f"event: {name}\n".encode() if name else b"") + f"data: {data}\n\n".encode()
        for name, data in events
    )


def _astream(provider) -> list:
    async def run():
        async with aclosing(provider.astream(chat())) as events:
            return [event async for event in events]

    return asyncio.run(run())


START = (
    "message_start",
    '{"type": "message_start", "message": {"usage": {"input_tokens": 10, '
    '"cache_creation_input_tokens": 2, "cache_read_input_tokens": 3, "output_tokens": 1}}}',
)
STOP = ("message_stop", '{"type": "message_stop"}')


def _delta(text: str, kind: str = "text_delta", field: str = "text") -> tuple[str, str]:
    data = {"type": "content_block_delta", "index": 0, "delta": {"type": kind, field: text}}
    return ("content_block_delta", json.dumps(data))


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_stream_skips_pings_thinking_and_unnamed_events_and_counts_cached_input(
    server, make_provider, mode
):
    body = _sse(
        START,
        ("ping", '{"type": "ping"}'),
        _delta("pondering", kind="thinking_delta", field="thinking"),
        _delta("Refunds "),
        (None, '{"type": "content_block_delta", "delta": {"type": "text_delta", "text": "x"}}'),
        _delta("take five days."),
        (
            "message_delta",
            '{"type": "message_delta", "delta": {"stop_reason": "end_turn"}, '
            '"usage": {"output_tokens": 6}}',
        ),
        STOP,
    )
    server.enqueue(raw(body, content_type="text/event-stream"))
    provider = make_provider("anthropic")
    events = list(provider.stream(chat())) if mode == "sync" else _astream(provider)

    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Refunds ", "take five days."]
    # input: 10 uncached + 2 written to the cache + 3 read from it
    assert events[-2:] == [UsageEvent(Usage(15, 6, 21)), Finish("stop")]


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(
    "event",
    [
        ("content_block_delta", "{not json"),
        ("content_block_delta", '["a list"]'),
        ("message_start", '{"type": "message_start", "message": "no object"}'),
        (
            "content_block_delta",
            '{"type": "content_block_delta", "delta": {"type": "text_delta", "text": 42}}',
        ),
    ],
    ids=["not-json", "not-an-object", "message-not-an-object", "text-not-text"],
)
def test_a_malformed_event_is_a_malformed_response(server, make_provider, mode, event):
    server.enqueue(raw(_sse(START, event, STOP), content_type="text/event-stream"))
    provider = make_provider("anthropic", max_attempts=1)
    with pytest.raises(MalformedResponse):
        list(provider.stream(chat())) if mode == "sync" else _astream(provider)


@pytest.mark.parametrize(
    ("kind", "error"),
    [("overloaded_error", ProviderUnavailable), ("rate_limit_error", RateLimited)],
)
def test_an_error_event_is_the_error_its_type_stands_for(server, make_provider, kind, error):
    data = json.dumps({"type": "error", "error": {"type": kind, "message": "Try later"}})
    server.enqueue(
        raw(_sse(START, _delta("Hal"), ("error", data)), content_type="text/event-stream")
    )
    with pytest.raises(error, match="Try later"):
        _astream(make_provider("anthropic", max_attempts=1))

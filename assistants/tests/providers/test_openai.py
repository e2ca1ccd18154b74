"""OpenAI / OpenAI-compatible adapter against the fake server's OpenAI wire protocol."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

import pytest

from assistants.providers.base import (
    ChatMessage,
    ChatRequest,
    Finish,
    TextDelta,
    Usage,
    UsageEvent,
)
from assistants.providers.errors import MalformedResponse, ProviderUnavailable
from assistants.providers.openai_provider import PLACEHOLDER_KEY

from .conftest import chat
from .fake_server import Reply, raw


def test_complete_sends_system_message_and_sampling_params(server, make_provider):
    provider = make_provider("openai", organization="org-42")
    request = ChatRequest(
        model="gpt-4o-mini",
        system="You are terse.",
        messages=[
            ChatMessage("user", "Hi"),
            ChatMessage("assistant", "Hello"),
            ChatMessage("user", "Bye"),
        ],
        temperature=0.3,
        top_p=0.9,
        max_tokens=64,
        stop=["END"],
    )
    result = provider.complete(request)

    assert result.text == "Hello from the fake server."
    assert result.usage == Usage(11, 7, 18, estimated=False)
    assert (result.finish_reason, result.provider, result.model) == (
        "stop",
        "openai",
        "gpt-4o-mini",
    )
    sent = server.last
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer test-key"
    assert sent.headers["openai-organization"] == "org-42"
    assert sent.body["model"] == "gpt-4o-mini"
    assert sent.body["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Bye"},
    ]
    assert sent.body["temperature"] == 0.3
    assert sent.body["top_p"] == 0.9
    assert sent.body["stop"] == ["END"]
    # OpenAI's own API wants max_completion_tokens (newer models reject max_tokens).
    assert sent.body["max_completion_tokens"] == 64
    assert "max_tokens" not in sent.body


def test_unset_options_are_not_sent(server, make_provider):
    make_provider("openai").complete(chat())
    assert set(server.last.body) == {"model", "messages"}


def test_stream_joins_deltas_and_reads_final_usage_chunk(server, make_provider):
    server.enqueue(Reply(text="The refund window is 30 days.", usage=(20, 8)))
    events = list(make_provider("openai").stream(chat()))

    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 1
    assert "".join(deltas) == "The refund window is 30 days."
    assert events[-2:] == [UsageEvent(Usage(20, 8, 28)), Finish("stop")]
    assert server.last.body["stream"] is True
    assert server.last.body["stream_options"] == {"include_usage": True}


def test_missing_usage_is_estimated_with_the_token_counter(server, make_provider):
    server.enqueue(Reply(text="Four words right here.", usage=None))
    result = make_provider("openai").complete(chat("hello world"))
    assert result.usage.estimated is True
    assert result.usage.completion_tokens > 0
    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens


def test_stream_without_usage_chunk_is_estimated(server, make_provider):
    server.enqueue(Reply(text="No usage here.", usage=None))
    events = list(make_provider("openai").stream(chat()))
    usage = next(e.usage for e in events if isinstance(e, UsageEvent))
    assert usage.estimated is True and usage.completion_tokens > 0


def test_length_finish_reason_is_reported(server, make_provider):
    server.enqueue(Reply(text="cut", finish="length"))
    assert make_provider("openai").complete(chat()).finish_reason == "length"


def test_compatible_server_uses_max_tokens_and_needs_no_key(server, make_provider):
    server.api_key = None  # e.g. Ollama / llama.cpp accept anything
    provider = make_provider("openai_compatible", api_key=None)
    result = provider.complete(chat(model="llama3.2", max_tokens=32))

    assert result.provider == "openai_compatible"
    assert server.last.headers["authorization"] == f"Bearer {PLACEHOLDER_KEY}"
    assert server.last.body["max_tokens"] == 32
    assert "max_completion_tokens" not in server.last.body


def test_embeddings(server, make_provider):
    server.enqueue(Reply(vectors=[[0.1, 0.2], [0.3, 0.4]], usage=(5, 0)))
    result = make_provider("openai").embed("text-embedding-3-small", ["alpha", "beta"])

    assert result.vectors == [[0.1, 0.2], [0.3, 0.4]]
    assert result.usage == Usage(5, 0, 5)
    assert server.last.path == "/v1/embeddings"
    assert server.last.body["model"] == "text-embedding-3-small"
    assert server.last.body["input"] == ["alpha", "beta"]


# --- the stream read as server-sent events (ADR 0110) -----------------------------------

SSE_BODY = (
    b": keep-alive comment\n\n"
    b'data: {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}\n\n'
    b'event: chunk\nid: 7\ndata: {"choices": [{"index": 0,\n'
    b'data:  "delta": {"content": "Split "}}]}\n\n'
    b'data: {"choices": [{"index": 0, "delta": {"content": "lines."}, '
    b'"finish_reason": "stop"}]}\r\n\r\n'
    b'data: {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}}\n\n'
    b"data: [DONE]\n\n"
    b'data: {"choices": [{"index": 0, "delta": {"content": "after done"}}]}\n\n'
)


def _astream(provider) -> list:
    async def run():
        async with aclosing(provider.astream(chat())) as events:
            return [event async for event in events]

    return asyncio.run(run())


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_stream_reads_comments_multiline_data_crlf_and_stops_at_done(server, make_provider, mode):
    server.enqueue(raw(SSE_BODY, content_type="text/event-stream"))
    provider = make_provider("openai")
    events = list(provider.stream(chat())) if mode == "sync" else _astream(provider)

    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Split ", "lines."]
    assert events[-2:] == [UsageEvent(Usage(5, 2, 7)), Finish("stop")]


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(
    "body",
    [
        b"data: {not json\n\n",
        b'data: ["a list"]\n\n',
        b'data: {"choices": {"index": 0}}\n\n',
        b'data: {"choices": [{"index": 0, "delta": {"content": 42}}]}\n\n',
    ],
    ids=["not-json", "not-an-object", "choices-not-a-list", "content-not-text"],
)
def test_a_malformed_chunk_is_a_malformed_response(server, make_provider, mode, body):
    server.enqueue(raw(body, content_type="text/event-stream"))
    provider = make_provider("openai", max_attempts=1)
    with pytest.raises(MalformedResponse):
        list(provider.stream(chat())) if mode == "sync" else _astream(provider)


def test_an_error_object_inside_the_stream_is_a_provider_error(server, make_provider):
    body = (
        b'data: {"choices": [{"index": 0, "delta": {"content": "Hal"}}]}\n\n'
        b'data: {"error": {"message": "The server had an error", "type": "server_error"}}\n\n'
    )
    server.enqueue(raw(body, content_type="text/event-stream"))
    with pytest.raises(ProviderUnavailable, match="The server had an error"):
        _astream(make_provider("openai", max_attempts=1))

"""Anthropic adapter against the fake server's Messages API wire protocol."""

from __future__ import annotations

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
from assistants.providers.errors import InvalidRequest

from .conftest import chat
from .fake_server import Reply


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

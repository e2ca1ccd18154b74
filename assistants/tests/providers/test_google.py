"""Gemini adapter (google-genai SDK) against the fake server's Gemini wire protocol."""

from __future__ import annotations

import json

from assistants.providers.base import (
    ChatMessage,
    ChatRequest,
    Finish,
    TextDelta,
    Usage,
    UsageEvent,
)

from .conftest import chat
from .fake_server import Reply, raw


def test_generate_content_request_shape(server, make_provider):
    request = ChatRequest(
        model="gemini-2.5-flash",
        system="Answer in French.",
        messages=[
            ChatMessage("user", "Hello"),
            ChatMessage("assistant", "Bonjour"),
            ChatMessage("user", "Refunds?"),
        ],
        temperature=0.1,
        top_p=0.7,
        max_tokens=128,
        stop=["STOP"],
    )
    result = make_provider("google").complete(request)

    assert result.text == "Hello from the fake server."
    assert result.usage == Usage(11, 7, 18)
    assert (result.finish_reason, result.provider) == ("stop", "google")
    sent = server.last
    assert sent.path.endswith("/models/gemini-2.5-flash:generateContent")
    assert sent.headers["x-goog-api-key"] == "test-key"
    assert sent.body["systemInstruction"]["parts"] == [{"text": "Answer in French."}]
    assert sent.body["contents"] == [
        {"role": "user", "parts": [{"text": "Hello"}]},
        {"role": "model", "parts": [{"text": "Bonjour"}]},
        {"role": "user", "parts": [{"text": "Refunds?"}]},
    ]
    assert sent.body["generationConfig"] == {
        "temperature": 0.1,
        "topP": 0.7,
        "maxOutputTokens": 128,
        "stopSequences": ["STOP"],
    }


def test_stream_generate_content_over_sse(server, make_provider):
    server.enqueue(Reply(text="Les remboursements prennent cinq jours.", usage=(30, 9)))
    events = list(make_provider("google").stream(chat(model="gemini-2.5-flash")))

    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 1
    assert "".join(deltas) == "Les remboursements prennent cinq jours."
    assert events[-2:] == [UsageEvent(Usage(30, 9, 39)), Finish("stop")]
    assert server.last.path.endswith(":streamGenerateContent")
    assert server.last.query == {"alt": "sse"}


def test_missing_usage_metadata_is_estimated(server, make_provider):
    server.enqueue(Reply(text="No metadata.", usage=None))
    result = make_provider("google").complete(chat())
    assert result.usage.estimated is True and result.usage.completion_tokens > 0


def test_batch_embeddings(server, make_provider):
    result = make_provider("google").embed("text-embedding-004", ["alpha", "beta gamma"])

    assert len(result.vectors) == 2
    assert result.vectors[0] != result.vectors[1]
    assert result.usage.estimated is True  # the Gemini API reports no embedding usage
    sent = server.last
    assert sent.path.endswith("/models/text-embedding-004:batchEmbedContents")
    assert [r["content"]["parts"][0]["text"] for r in sent.body["requests"]] == [
        "alpha",
        "beta gamma",
    ]


def test_finish_reasons_are_normalized(server, make_provider):
    server.enqueue(Reply(text="cut", finish="MAX_TOKENS"), Reply(text="", finish="SAFETY"))
    provider = make_provider("google")
    assert provider.complete(chat()).finish_reason == "length"
    assert provider.complete(chat()).finish_reason == "content_filter"


def test_blocked_prompt_is_a_content_filter_answer_not_an_outage(server, make_provider, sleeps):
    blocked = {"promptFeedback": {"blockReason": "SAFETY"}}
    server.enqueue(raw(json.dumps(blocked).encode()))
    result = make_provider("google").complete(chat())
    assert (result.text, result.finish_reason) == ("", "content_filter")
    assert sleeps == [] and len(server.requests) == 1

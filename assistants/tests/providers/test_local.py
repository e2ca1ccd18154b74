"""The offline extractive responder."""

from __future__ import annotations

import re

from assistants.providers.base import (
    ChatMessage,
    ChatRequest,
    Finish,
    ProviderConfig,
    Source,
    TextDelta,
    UsageEvent,
)
from assistants.providers.local_provider import LABEL, NOTHING_FOUND, rank
from assistants.providers.registry import get_provider

SOURCES = [
    Source(
        1,
        "Shipping guide",
        "Orders ship within two business days. Express shipping costs 15 euros.",
        page=2,
    ),
    Source(
        2,
        "Refund policy",
        "Customers can request a refund within 30 days of delivery. "
        "Refunds are paid back to the original payment method. Gift cards are not refundable.",
        page=7,
    ),
    Source(3, "Office hours", "Our office is open Monday to Friday."),
]


def ask(question: str, sources=SOURCES, **kwargs) -> ChatRequest:
    return ChatRequest(
        model="extractive",
        system="You are the ACME support assistant.",
        messages=[ChatMessage("user", "Hello"), ChatMessage("user", question)],
        sources=list(sources),
        **kwargs,
    )


def local():
    return get_provider(ProviderConfig("local"))


def test_cites_the_relevant_source():
    result = local().complete(ask("How many days do I have to request a refund?"))

    assert result.text.startswith(LABEL)  # never passes itself off as an LLM
    assert "within 30 days of delivery" in result.text
    assert "[2]" in result.text
    assert not re.search(r"\[1\]|\[3\]", result.text)
    assert "Refund policy, p. 7" in result.text
    assert (result.provider, result.model, result.finish_reason) == ("local", "extractive", "stop")


def test_quotes_several_sources_when_each_is_relevant():
    result = local().complete(ask("What does express shipping cost, and how do refunds work?"))
    assert "[1]" in result.text and "[2]" in result.text
    assert "Express shipping costs 15 euros. [1]" in result.text


def test_says_nothing_relevant_was_found():
    result = local().complete(ask("Do you sell bicycles in Norway?"))
    assert result.text == NOTHING_FOUND
    assert "[" not in result.text


def test_without_sources_says_nothing_relevant_was_found():
    assert local().complete(ask("How do refunds work?", sources=[])).text == NOTHING_FOUND


def test_stopwords_alone_are_not_relevance():
    assert rank("what is the", SOURCES) == []


def test_usage_is_counted_with_the_token_counter():
    usage = local().complete(ask("refund")).usage
    assert usage.estimated is True
    assert usage.prompt_tokens > 20 and usage.completion_tokens > 5
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_stream_yields_word_chunks_that_join_to_the_answer():
    request = ask("How do refunds work?")
    events = list(local().stream(request))
    deltas = [e.text for e in events if isinstance(e, TextDelta)]

    assert len(deltas) > 10
    assert "".join(deltas) == local().complete(request).text
    assert isinstance(events[-2], UsageEvent) and events[-1] == Finish("stop")


def test_max_tokens_limits_the_quotes():
    result = local().complete(ask("refund refunds delivery payment gift", max_tokens=25))
    assert result.finish_reason == "length"
    assert result.text.count("\n- ") == 1


def test_wrapped_lines_stay_one_sentence_and_list_items_stay_apart():
    from assistants.providers.local_provider import split_sentences

    text = "Refunds are paid back to the original\ncard within five days.\n\n- first item\n- second item"
    assert split_sentences(text) == [
        "Refunds are paid back to the original card within five days.",
        "- first item",
        "- second item",
    ]

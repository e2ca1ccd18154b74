"""Offline token counting."""

from __future__ import annotations

import socket

import pytest

from assistants.providers import tokens


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("token counting must never touch the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    tokens.get_encoding.cache_clear()
    yield
    tokens.get_encoding.cache_clear()


def test_exact_counts_from_bundled_encodings_without_network(no_network):
    assert tokens.is_exact("gpt-4")
    assert tokens.count_tokens("hello world", "gpt-4") == 2  # cl100k_base: [15339, 1917]
    assert tokens.count_tokens("hello world", "gpt-4o") == 2  # o200k_base
    assert tokens.encoding_name_for("gpt-4") == "cl100k_base"
    assert tokens.encoding_name_for("gpt-4o-mini") == "o200k_base"


def test_unknown_models_use_the_default_encoding():
    assert tokens.encoding_name_for("claude-sonnet-4") == tokens.DEFAULT_ENCODING
    assert tokens.encoding_name_for(None) == tokens.DEFAULT_ENCODING
    assert tokens.count_tokens("Bonjour tout le monde", "gemini-2.5-flash") > 0


def test_special_token_text_is_counted_not_rejected():
    assert tokens.count_tokens("<|endoftext|>", "gpt-4") > 1


def test_empty_text():
    assert tokens.count_tokens("") == 0


def test_approximation_when_no_encoding_is_available(monkeypatch):
    monkeypatch.setattr(tokens, "_bundled_bpe_path", lambda name: None)
    tokens.get_encoding.cache_clear()
    try:
        assert not tokens.is_exact()
        assert tokens.count_tokens("a" * 40) == 10
        assert tokens.count_tokens("a b c d e f g h") == 6  # 8 words * 3/4
    finally:
        tokens.get_encoding.cache_clear()

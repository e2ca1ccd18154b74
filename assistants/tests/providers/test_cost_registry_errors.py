"""Small pure pieces: cost arithmetic, the registry, error normalisation."""

from __future__ import annotations

from decimal import Decimal

import pytest

from assistants.providers.anthropic_provider import AnthropicProvider
from assistants.providers.base import ChatMessage, ProviderConfig, Usage
from assistants.providers.cost import cost_for
from assistants.providers.errors import (
    AuthenticationFailed,
    InvalidRequest,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    error_for_status,
    redact,
)
from assistants.providers.google_provider import GoogleProvider
from assistants.providers.local_provider import LocalExtractiveProvider
from assistants.providers.openai_provider import OpenAIProvider
from assistants.providers.registry import PROVIDER_NAMES, get_provider


def test_cost_for_uses_decimal_and_six_places():
    usage = Usage.of(1234, 567)
    cost = cost_for(usage, Decimal("2.50"), Decimal("10.00"))
    assert cost == Decimal("0.008755")  # 1234*2.5/1e6 + 567*10/1e6 = 0.003085 + 0.00567
    assert cost.as_tuple().exponent == -6
    assert cost_for(Usage.of(1, 0), Decimal("0.15"), Decimal(0)) == Decimal("0.000000")
    assert cost_for(Usage.of(3, 0), Decimal("0.15"), Decimal(0)) == Decimal("0.000000")
    assert cost_for(Usage.of(4, 0), Decimal("0.15"), Decimal(0)) == Decimal("0.000001")


def test_cost_for_rejects_floats():
    with pytest.raises(TypeError):
        cost_for(Usage.of(1, 1), 2.5, Decimal(1))


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("openai", OpenAIProvider),
        ("openai_compatible", OpenAIProvider),
        ("anthropic", AnthropicProvider),
        ("google", GoogleProvider),
        ("local", LocalExtractiveProvider),
    ],
)
def test_registry(name, cls):
    provider = get_provider(ProviderConfig(name, api_key="k"))
    assert isinstance(provider, cls)
    assert provider.name == name
    assert name in PROVIDER_NAMES


def test_registry_rejects_unknown_provider():
    with pytest.raises(InvalidRequest):
        get_provider(ProviderConfig("skynet"))


def test_config_repr_hides_the_key():
    assert "sk-very-secret" not in repr(ProviderConfig("openai", api_key="sk-very-secret"))


def test_sdk_retries_are_disabled():
    config = ProviderConfig("openai", api_key="k", base_url="http://127.0.0.1:1/v1")
    assert get_provider(config).client.max_retries == 0
    anthropic = get_provider(ProviderConfig("anthropic", api_key="k"))
    assert anthropic.client.max_retries == 0


def test_unknown_message_role_is_invalid():
    with pytest.raises(InvalidRequest):
        ChatMessage("tool", "x")


@pytest.mark.parametrize(
    ("status", "cls", "retryable"),
    [
        (400, InvalidRequest, False),
        (401, AuthenticationFailed, False),
        (403, AuthenticationFailed, False),
        (404, InvalidRequest, False),
        (408, ProviderTimeout, True),
        (429, RateLimited, True),
        (500, ProviderUnavailable, True),
        (503, ProviderUnavailable, True),
        (529, ProviderUnavailable, True),
    ],
)
def test_error_for_status(status, cls, retryable):
    error = error_for_status(status, "detail")
    assert type(error) is cls
    assert error.retryable is retryable
    assert error.status_code == status


def test_redact_known_key_and_key_shapes():
    text = (
        "key abc123secret, sk-proj-abcdefghijkl, AIzaSyA1234567890abcdefghij, Bearer tok.en-123456"
    )
    cleaned = redact(text, "abc123secret")
    for leaked in (
        "abc123secret",
        "sk-proj-abcdefghijkl",
        "AIzaSyA1234567890abcdefghij",
        "tok.en-123456",
    ):
        assert leaked not in cleaned
    assert "Bearer [REDACTED]" in cleaned


def test_user_messages_are_generic():
    error = AuthenticationFailed("HTTP 401: Incorrect API key provided: sk-abcdefghijklmnop")
    assert "sk-abcdefghijklmnop" not in str(error)
    assert error.user_message == "The AI provider rejected the configured credentials."

"""ChatProvider.verify(): a credential check that lists models and spends no tokens."""

from __future__ import annotations

import dataclasses

import pytest

from assistants.providers.base import MAX_VERIFY_MODELS, ProviderConfig, VerifyResult
from assistants.providers.errors import (
    AuthenticationFailed,
    MalformedResponse,
    ProviderTimeout,
    ProviderUnavailable,
)
from assistants.providers.registry import get_provider

from .fake_server import Reply, error, raw

VENDORS = ["openai", "openai_compatible", "anthropic", "google"]
# What the fake server lists by default, as the adapters report it (Gemini's "models/"
# prefix stripped so the ids match the catalog).
DEFAULT_IDS = {
    "openai": ["gpt-4o-mini", "text-embedding-3-small"],
    "openai_compatible": ["gpt-4o-mini", "text-embedding-3-small"],
    "anthropic": ["claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"],
    "google": ["gemini-2.5-flash", "text-embedding-004"],
}
LABELS = {
    "openai": "OpenAI",
    "openai_compatible": "the OpenAI-compatible server",
    "anthropic": "Anthropic",
    "google": "Google Gemini",
}


@pytest.mark.parametrize("vendor", VENDORS)
def test_good_key_lists_models(vendor, server, make_provider, sleeps):
    result = make_provider(vendor).verify()

    assert result == VerifyResult(
        ok=True,
        message=f"Connected to {LABELS[vendor]}: 2 models available.",
        models=DEFAULT_IDS[vendor],
    )
    assert len(server.requests) == 1 and sleeps == []
    sent = server.last
    assert (sent.method, sent.body) == ("GET", None)  # a listing: nothing generated or billed
    assert sent.path.endswith("/models")


def test_request_shapes(server, make_provider):
    make_provider("openai").verify()
    assert server.last.path == "/v1/models"
    assert server.last.headers["authorization"] == "Bearer test-key"

    make_provider("anthropic").verify()
    assert server.last.path == "/v1/models"
    assert "anthropic-version" in server.last.headers
    assert server.last.query == {"limit": "1000"}  # one page gives an exact count

    make_provider("google").verify()
    assert server.last.path.endswith("/models")
    assert server.last.headers["x-goog-api-key"] == "test-key"
    assert server.last.query == {"pageSize": "1000"}


@pytest.mark.parametrize("vendor", VENDORS)
def test_bad_key_is_authentication_failed_and_not_retried(vendor, server, make_provider, sleeps):
    provider = make_provider(vendor, api_key="sk-wrong-key-123456", max_attempts=3)
    with pytest.raises(AuthenticationFailed) as excinfo:
        provider.verify()

    assert len(server.requests) == 1 and sleeps == []
    assert excinfo.value.provider == vendor
    assert "sk-wrong-key-123456" not in str(excinfo.value)


@pytest.mark.parametrize("vendor", VENDORS)
def test_scripted_401_is_authentication_failed(vendor, server, make_provider):
    server.enqueue(error(401, "key revoked"))
    with pytest.raises(AuthenticationFailed):
        make_provider(vendor).verify()
    assert len(server.requests) == 1


@pytest.mark.parametrize("vendor", ["openai", "anthropic", "google"])
def test_missing_key_fails_without_a_request(vendor, server, make_provider):
    with pytest.raises(AuthenticationFailed, match="No API key configured"):
        make_provider(vendor, api_key=None).verify()
    assert server.requests == []


@pytest.mark.parametrize("vendor", VENDORS)
def test_server_error_is_provider_unavailable(vendor, server, make_provider, sleeps):
    server.enqueue(error(500))
    with pytest.raises(ProviderUnavailable) as excinfo:
        make_provider(vendor, max_attempts=3).verify()

    assert type(excinfo.value) is ProviderUnavailable
    # verify() is a single attempt: the admin hears about the outage at once.
    assert len(server.requests) == 1 and sleeps == []


@pytest.mark.parametrize("vendor", VENDORS)
def test_timeout_is_provider_timeout(vendor, server, make_provider):
    server.enqueue(Reply(delay=2.0))
    with pytest.raises(ProviderTimeout):
        make_provider(vendor, timeout=0.2).verify()


@pytest.mark.parametrize("vendor", VENDORS)
def test_non_json_200_is_malformed_not_an_sdk_error(vendor, server, make_provider):
    server.enqueue(raw(b"<html>Proxy login</html>", content_type="text/html"))
    with pytest.raises(MalformedResponse):
        make_provider(vendor).verify()


@pytest.mark.parametrize("vendor", VENDORS)
def test_model_ids_are_truncated_but_counted(vendor, server, make_provider):
    server.enqueue(Reply(models=[f"model-{i}" for i in range(60)]))
    result = make_provider(vendor).verify()

    assert result.ok
    assert result.message == f"Connected to {LABELS[vendor]}: 60 models available."
    assert result.models == [f"model-{i}" for i in range(MAX_VERIFY_MODELS)]


@pytest.mark.parametrize("vendor", ["anthropic", "google"])
def test_further_pages_are_not_fetched_and_the_count_is_a_floor(vendor, server, make_provider):
    server.enqueue(Reply(models=[f"model-{i}" for i in range(1001)]))
    result = make_provider(vendor).verify()

    assert result.message == f"Connected to {LABELS[vendor]}: at least 1000 models available."
    assert len(server.requests) == 1


def test_valid_key_without_models_is_still_ok(server, make_provider):
    server.enqueue(Reply(models=[]))
    result = make_provider("openai_compatible").verify()
    assert result == VerifyResult(
        True, "Connected to the OpenAI-compatible server, but no models are available.", []
    )


def test_local_needs_no_credentials_and_no_server():
    provider = get_provider(ProviderConfig(provider="local"))
    result = provider.verify()

    assert result.ok
    assert "local extractive responder" in result.message
    assert "local embedder" in result.message
    assert "no credentials" in result.message
    assert result.models == ["extractive"]


def test_verify_result_is_frozen():
    result = VerifyResult(True, "fine", ["a"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.ok = False  # type: ignore[misc]

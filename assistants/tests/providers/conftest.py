"""Fixtures for the provider layer: no Django, no database, no internet.

The official SDKs talk over real HTTP to FakeProviderServer on 127.0.0.1; backoff sleeps
are recorded instead of slept, so retry tests are instant and can assert the delays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from assistants.providers.base import ChatMessage, ChatProvider, ChatRequest, ProviderConfig
from assistants.providers.registry import get_provider
from assistants.providers.retry import RetryPolicy

from .fake_server import FakeProviderServer

API_KEY = "test-key"


@pytest.fixture(scope="session")
def _shared_server() -> Iterator[FakeProviderServer]:
    server = FakeProviderServer(api_key=API_KEY).start()
    yield server
    server.stop()


@pytest.fixture
def server(_shared_server: FakeProviderServer) -> FakeProviderServer:
    _shared_server.reset()
    return _shared_server


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_provider(server: FakeProviderServer, sleeps: list[float]) -> Callable[..., ChatProvider]:
    """make_provider("anthropic", max_attempts=3, timeout=5.0, api_key=...)."""

    def make(
        name: str,
        *,
        max_attempts: int = 3,
        timeout: float = 5.0,
        api_key: str | None = API_KEY,
        organization: str | None = None,
    ) -> ChatProvider:
        base_url = server.url + "/v1" if name.startswith("openai") else server.url
        config = ProviderConfig(
            provider=name,
            api_key=api_key,
            base_url=base_url,
            organization=organization,
            timeout=timeout,
            max_retries=max_attempts - 1,
        )

        async def async_sleep(seconds: float) -> None:
            sleeps.append(seconds)

        # random() fixed at 0.5 makes the jittered backoff deterministic for assertions.
        policy = RetryPolicy(
            max_attempts=max_attempts,
            sleep=sleeps.append,
            async_sleep=async_sleep,
            random=lambda: 0.5,
        )
        return get_provider(config, retry_policy=policy)

    return make


def chat(text: str = "What is the refund policy?", **kwargs) -> ChatRequest:
    kwargs.setdefault("model", "test-model")
    return ChatRequest(messages=[ChatMessage("user", text)], **kwargs)

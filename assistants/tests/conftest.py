"""Fixtures for the Django side of the AI layer: the wire-protocol server and catalog rows."""

import pytest
from django_tenants.utils import schema_context

from assistants import services
from assistants.catalog.models import AIModel
from assistants.tests.providers.fake_server import FakeProviderServer

GOOD_KEY = "sk-test-good-key-1234"


@pytest.fixture(scope="session")
def _provider_server():
    server = FakeProviderServer(api_key=GOOD_KEY).start()
    yield server
    server.stop()


@pytest.fixture
def provider_server(_provider_server, settings):
    """A local server speaking OpenAI, Anthropic and Gemini; retries off for speed."""
    _provider_server.reset()
    settings.AI_MAX_RETRIES = 0
    settings.AI_REQUEST_TIMEOUT = 5.0
    return _provider_server


def catalog_model(key: str) -> AIModel:
    provider, model_id = key.split("/", 1)
    return AIModel.objects.get(provider=provider, model_id=model_id)


@pytest.fixture
def openai_credential(org_a, provider_server):
    """Organization alpha's OpenAI key, pointed at the local server."""
    with schema_context(org_a.slug):
        return services.credential_create(
            provider="openai",
            api_key=GOOD_KEY,
            base_url=f"{provider_server.url}/v1",
            user=org_a.admin,
        )

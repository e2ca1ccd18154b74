"""Fixtures for the Django side of the AI layer: the wire-protocol server and catalog rows."""

import pytest
from django_tenants.utils import schema_context

from assistants import services
from assistants.catalog.models import AIModel
from tests.helpers import GOOD_KEY

__all__ = ["GOOD_KEY"]


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

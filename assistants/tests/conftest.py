"""Fixtures for the Django side of the AI layer: credentials pointed at the local
wire-protocol server (catalog lookups are tests.factories.catalog_model)."""

import pytest
from django_tenants.utils import schema_context

from assistants import services
from tests.helpers import GOOD_KEY


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

"""Chat fixtures: an assistant answering from a small real collection
(built by tests.factories.make_assistant)."""

import pytest
from django_tenants.utils import schema_context

from assistants import services as assistant_services
from tests.factories import make_assistant
from tests.helpers import GOOD_KEY


@pytest.fixture
def assistant(org_a):
    return make_assistant(org_a)


@pytest.fixture
def openai_assistant(org_a, provider_server):
    with schema_context(org_a.slug):
        assistant_services.credential_create(
            provider="openai", api_key=GOOD_KEY, base_url=f"{provider_server.url}/v1"
        )
    return make_assistant(org_a, "openai/gpt-4o-mini")

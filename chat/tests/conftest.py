"""Chat fixtures: an assistant answering from a small real collection."""

import pytest
from django_tenants.utils import schema_context

from assistants import services as assistant_services
from assistants.catalog.models import AIModel
from knowledge_base import services as knowledge_services
from knowledge_base.tests.conftest import add_text, process_pending
from tests.helpers import GOOD_KEY

HANDBOOK = {
    "Refund policy": "# Refunds\n\nA refund is paid to the original card within five business days "
    "after we receive the returned item. Items must be returned within 30 days.",
    "Shipping guide": "# Shipping\n\nParcels leave the Lyon warehouse every weekday. Express delivery "
    "inside the European Union takes two days.",
}


def make_assistant(org, model_key="local/extractive", with_knowledge=True, **fields):
    provider, model_id = model_key.split("/", 1)
    with schema_context(org.slug):
        collections = []
        if with_knowledge:
            collection = knowledge_services.collection_create(
                name=f"KB {org.slug}",
                embedding_model=AIModel.objects.get(model_id="all-minilm-l6-v2"),
            )
            for title, text in HANDBOOK.items():
                add_text(org, collection, title, text)
            collections = [collection]
        assistant = assistant_services.assistant_create(
            user=org.admin, name=f"Helper {org.slug}",
            model=AIModel.objects.get(provider=provider, model_id=model_id), collections=collections,
            retrieval_top_k=4, **fields,
        )  # fmt: skip
    if with_knowledge:
        process_pending(org)
    return assistant


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


def parse_sse(body: bytes) -> list[tuple[str, dict]]:
    import json

    events = []
    for block in body.decode().strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def stream_body(response) -> bytes:
    """Read a streamed body the way an ASGI server does (async iterator); the database
    work inside runs back on this test's thread, in its transaction."""
    from asgiref.sync import async_to_sync

    if not response.is_async:
        return b"".join(response.streaming_content)

    async def collect() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    return async_to_sync(collect)()

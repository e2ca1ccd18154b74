"""An assistant over a parent-child collection (ADR 0103): the model reads each retrieved
chunk's section instead of the chunk, once per section, and the citation names the chunk
(whose section the chunk API returns with the chunk's span in it)."""

import pytest
from django_tenants.utils import schema_context

from assistants import services as assistant_services
from assistants.tests.providers.fake_server import Reply
from chat.models import Message
from knowledge_base import services as knowledge_services
from knowledge_base.models import DocumentSection
from tests.factories import add_text, catalog_model, local_embedding_model, process_pending
from tests.helpers import GOOD_KEY

MANUAL = (
    "# Pump care\n\n"
    "Intro to the zyxpump. The zyxpump moves water from the well to the tank. "
    + " ".join(f"Care note {i}: keep the area around it dry and clean." for i in range(12))
    + " Grease the zyxpump bearings every month with lithium grease."
)


@pytest.fixture
def manual_assistant(org_a, provider_server):
    with schema_context(org_a.slug):
        assistant_services.credential_create(
            provider="openai", api_key=GOOD_KEY, base_url=f"{provider_server.url}/v1"
        )
        collection = knowledge_services.collection_create(
            name="Manuals",
            embedding_model=local_embedding_model(),
            chunk_size=50,
            chunk_overlap=0,
            chunking="parent_child",
            parent_size=600,
        )
        add_text(org_a, collection, "Pump manual", MANUAL)
        assistant = assistant_services.assistant_create(
            user=org_a.admin,
            name="Pump helper",
            model=catalog_model("openai/gpt-4o-mini"),
            collections=[collection],
            retrieval_top_k=4,
        )
    process_pending(org_a)
    return assistant


@pytest.mark.django_db
def test_the_model_reads_the_section_once_and_the_citation_opens_the_chunk_in_it(
    org_a, client_for, manual_assistant, provider_server
):
    with schema_context(org_a.slug):
        [section] = DocumentSection.objects.all()
        assert section.children.count() >= 3
    provider_server.enqueue(Reply(text="Grease it monthly [1].", usage=(300, 10)))
    member = client_for(org_a, "member")

    response = member.post(
        "/api/v1/chat",
        {
            "assistant": str(manual_assistant.id),
            "message": "How often should the zyxpump bearings be greased?",
            "stream": False,
        },
        format="json",
    )

    assert response.status_code == 200, response.content[:300]
    system = provider_server.last.body["messages"][0]["content"]
    assert system.count("Intro to the zyxpump.") == 1  # the section, once
    assert "Grease the zyxpump bearings every month" in system
    message = response.json()["message"]
    [source] = message["sources"]  # the section's other chunks merged into it
    assert source["parent_id"] == section.id and len(source["merged_chunk_ids"]) >= 1
    with schema_context(org_a.slug):
        assert Message.objects.get(pk=message["id"]).sources[0]["parent_id"] == section.id
    chunk = client_for(org_a, "viewer").get(f"/api/v1/chunks/{source['chunk_id']}").json()
    parent = chunk["parent"]
    assert parent["id"] == section.id
    assert parent["text"][parent["child_start"] : parent["child_end"]] == chunk["text"]

"""Who a question's retrieval is charged to: the query embedding a turn (or a knowledge
search) makes is recorded with the channel, assistant and API key of the call, like
the answer itself, not as a web call of nobody in particular. (Each test asks its own
question: a query embedded before in this process comes from the cache, uncharged.)"""

import pytest
from django_tenants.utils import schema_context

from billing.models import UsageRecord
from integrations.models import APIKey
from tests.factories import api_key_for


def _embeddings(org):
    with schema_context(org.slug):
        return list(
            UsageRecord.objects.filter(organization=org.organization, kind="embedding")
            .order_by("created_at")
            .values("channel", "assistant_id", "api_key_id", "user_id")
        )


@pytest.mark.django_db
def test_an_api_turn_charges_its_query_embedding_to_the_key_and_assistant(
    org_a, client_for, assistant
):
    key_row, key = api_key_for(org_a, "chat:write")
    before = len(_embeddings(org_a))

    response = client_for(org_a, api_key=key).post(
        "/api/v1/chat",
        {
            "assistant": str(assistant.id),
            "message": "Refund timing, asked with a key?",
            "stream": False,
        },
        format="json",
    )

    assert response.status_code == 200, response.content[:300]
    assert response.json()["message"]["sources"]
    [query] = _embeddings(org_a)[before:]
    assert query["channel"] == "api"
    assert query["assistant_id"] == assistant.id
    assert query["api_key_id"] == APIKey.objects.get(pk=key_row.pk).pk


@pytest.mark.django_db
def test_a_members_turn_is_a_web_call_of_that_assistant(org_a, client_for, assistant):
    before = len(_embeddings(org_a))

    response = client_for(org_a, "member").post(
        "/api/v1/chat",
        {
            "assistant": str(assistant.id),
            "message": "Shipping days, asked by a member?",
            "stream": False,
        },
        format="json",
    )

    assert response.status_code == 200
    [query] = _embeddings(org_a)[before:]
    assert query["channel"] == "web" and query["api_key_id"] is None
    assert query["assistant_id"] == assistant.id
    assert query["user_id"] == org_a.member.pk


@pytest.mark.django_db
@pytest.mark.parametrize(("with_key", "channel"), [(True, "api"), (False, "web")])
def test_a_knowledge_search_is_charged_to_its_caller(
    org_a, client_for, assistant, with_key, channel
):
    with schema_context(org_a.slug):
        collection = assistant.collections.get()
    if with_key:
        _, key = api_key_for(org_a, "knowledge:read")
        client = client_for(org_a, api_key=key)
    else:
        client = client_for(org_a, "viewer")
    before = len(_embeddings(org_a))

    response = client.post(
        "/api/v1/search",
        # A query of its own: a repeated one comes from the embedding cache, uncharged.
        {"query": f"how long for my money back ({channel})", "collections": [str(collection.id)]},
        format="json",
    )

    assert response.status_code == 200, response.content[:300]
    assert response.json()["results"]
    [query] = _embeddings(org_a)[before:]
    assert query["channel"] == channel
    assert (query["api_key_id"] is not None) is with_key

"""An assistant with a reranker (ADR 0100): its answers cite the passages in the order
the reranker gave, and say so; a failing reranker never fails the answer, which then
cites the fused order and records that reranking did not apply."""

import pytest
from django_tenants.utils import schema_context

from assistants import services as assistant_services
from assistants.tests.providers.fake_server import Reply, error
from billing.models import UsageRecord
from chat.models import Message
from tests.helpers import GOOD_KEY

QUESTION = "How long do refunds and express deliveries take?"


def _ask(client, assistant, message=QUESTION):
    response = client.post(
        "/api/v1/chat",
        {"assistant": str(assistant.id), "message": message, "stream": False},
        format="json",
    )
    assert response.status_code == 200, response.content[:300]
    return response.json()["message"]


def _use_reranker(org, assistant, provider_server, candidates=10):
    with schema_context(org.slug):
        reranker = assistant_services.reranker_create(
            name="TEI",
            api_format="tei",
            base_url=provider_server.url,
            api_key=GOOD_KEY,
        )
        assistant_services.assistant_update(
            assistant=assistant, reranker=reranker, rerank_candidates=candidates
        )
    return reranker


@pytest.mark.django_db
def test_the_assistants_reranker_orders_the_sources(org_a, client_for, assistant, provider_server):
    member = client_for(org_a, "member")
    plain = [s["document_title"] for s in _ask(member, assistant)["sources"]]
    assert len(plain) == 2
    _use_reranker(org_a, assistant, provider_server)
    provider_server.enqueue(Reply(scores=[0.2, 0.8]))

    message = _ask(member, assistant, QUESTION + " (reranked)")

    sources = message["sources"]
    assert [s["document_title"] for s in sources] == plain[::-1]
    assert [s["reranked"] for s in sources] == [True, True]
    assert [s["rerank_score"] for s in sources] == [0.8, 0.2]
    request = provider_server.last
    assert request.path == "/rerank" and "texts" in request.body
    with schema_context(org_a.slug):
        stored = Message.objects.get(pk=message["id"]).sources
    assert [s["reranked"] for s in stored] == [True, True]
    row = UsageRecord.objects.filter(organization=org_a.organization, kind="rerank").latest(
        "created_at"
    )
    assert row.assistant_id == assistant.id and row.channel == "web"


@pytest.mark.django_db
def test_a_failing_reranker_still_answers_and_records_it(
    org_a, client_for, assistant, provider_server
):
    member = client_for(org_a, "member")
    question = QUESTION + " (reranker down)"
    _use_reranker(org_a, assistant, provider_server)
    provider_server.enqueue(error(500))

    message = _ask(member, assistant, question)

    assert message["content"] and message["sources"]
    assert all(s["reranked"] is False and s["rerank_score"] is None for s in message["sources"])


@pytest.mark.django_db
def test_without_a_reranker_nothing_is_called(org_a, client_for, assistant, provider_server):
    message = _ask(client_for(org_a, "member"), assistant, QUESTION + " (no reranker)")

    assert all("reranked" not in s for s in message["sources"])
    assert not [r for r in provider_server.requests if r.path.endswith("/rerank")]

"""An assistant's "Test reply" is the chat turn without a conversation (issue 22): it
retrieves from the assistant's collections, cites numbered sources and records its cost."""

from decimal import Decimal

import pytest
from django_tenants.utils import schema_context

from assistants.tests.providers.fake_server import Reply
from billing.models import UsageRecord
from chat.models import ChatSession
from tests.helpers import assert_error


def _test(client, assistant, message):
    return client.post(f"/api/v1/assistants/{assistant.id}/test", {"message": message})


@pytest.mark.django_db
class TestTestReply:
    def test_an_offline_assistant_answers_from_its_uploads_with_cited_sources(
        self, org_a, client_for, assistant
    ):
        response = _test(client_for(org_a, "member"), assistant, "How long does a refund take?")

        assert response.status_code == 200, response.content[:300]
        body = response.json()
        assert "five business days" in body["reply"] and "nothing relevant" not in body["reply"]
        cited = [source for source in body["sources"] if source["cited"]]
        refund = [source for source in cited if source["document_title"] == "Refund policy"]
        assert refund and f"[{refund[0]['index']}]" in body["reply"]
        assert body["retrieval_query"]
        # Nothing is stored as a conversation.
        with schema_context(org_a.slug):
            assert not ChatSession.objects.exists()

    def test_a_provider_model_gets_the_numbered_sources_and_the_cost_is_recorded(
        self, org_a, client_for, openai_assistant, provider_server
    ):
        provider_server.enqueue(Reply(text="Five business days [1].", usage=(1000, 10)))
        member = client_for(org_a, "member")

        body = _test(member, openai_assistant, "How long does a refund take?").json()

        system = provider_server.last.body["messages"][0]["content"]
        assert "five business days" in system and "[1]" in system
        assert body["reply"] == "Five business days [1]."
        assert body["sources"][0]["index"] == 1 and body["sources"][0]["cited"] is True
        record = UsageRecord.objects.filter(
            organization=org_a.organization, kind="chat", model_id="gpt-4o-mini"
        ).get()
        assert Decimal(body["cost"]) >= record.cost > 0
        assert str(record.assistant_id) == str(openai_assistant.id)

    def test_another_organizations_assistant_is_404(self, org_a, org_b, client_for, assistant):
        assert_error(_test(client_for(org_b, "admin"), assistant, "Refunds?"), 404)

"""A turn's preparation (chat/turn.py): the round trips before the first token, and what
the shortcuts taken for them must keep (ADR 0104): a changed key applies at once although
its decryption is remembered, the query embedding is recorded once, the placeholder's
token estimate is the one charged."""

import contextlib
import warnings

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from assistants import services as assistant_services
from assistants.models import ProviderCredential
from assistants.tests.providers.fake_server import Reply
from billing.models import UsageKind, UsageRecord
from chat import services, streaming
from chat.models import Message, MessageStatus
from core.api.authorization import caller_resolve
from knowledge_base.retrieval.vector import query_embedding_cache
from tests.helpers import GOOD_KEY, parse_sse, stream_body

warnings.filterwarnings(
    "ignore", message="StreamingHttpResponse must consume asynchronous iterators"
)

# Statements of chat_prepare for a new question with retrieval (hybrid, one collection)
# to an OpenAI assistant, in the tests' transaction: the assistant, its collections (with
# their embedding model); keyword statistics, round; the embedding's ledger row; vector
# search (savepoint, settings, select, release); the hits with their parent sections (a
# new collection is parent-child, ADR 0103; one statement since ADR 0114, two before);
# the credential; the rows (savepoint, session, both messages, release). Before ADR 0104:
# 18 (the embedding model and the snippets, each on its own).
MAX_STATEMENTS = 15


@pytest.fixture(autouse=True)
def empty_embedding_cache():
    query_embedding_cache.clear()  # every question is embedded, as a new one would be
    yield
    query_embedding_cache.clear()


def _prepare(org, assistant, message, captured: CaptureQueriesContext | None = None):
    with schema_context(org.slug):
        caller = caller_resolve(organization=org.organization, user=org.member, api_key=None)
        with captured if captured is not None else contextlib.nullcontext():
            return services.chat_prepare(
                organization=org.organization,
                assistant_id=assistant.id,
                message=message,
                user=org.member,
                caller=caller,
            )


def _chat(client, assistant, message):
    response = client.post(
        "/api/v1/chat", {"assistant": str(assistant.id), "message": message}, format="json"
    )
    if response.status_code != 200:
        return response.status_code, response.json()
    return 200, parse_sse(stream_body(response))


@pytest.mark.django_db
class TestStatementsBeforeTheFirstToken:
    def test_a_question_with_retrieval_reads_nothing_twice(self, org_a, openai_assistant):
        before = UsageRecord.objects.filter(kind=UsageKind.EMBEDDING).count()
        captured = CaptureQueriesContext(connection)
        turn = _prepare(org_a, openai_assistant, "How long does a refund take?", captured)

        statements = [q["sql"] for q in captured.captured_queries]
        listing = "\n".join(statements)
        assert turn.sources, "retrieval ran"
        # The credential is read once, on this turn (never cached: see below).
        credential = [s for s in statements if "assistants_providercredential" in s]
        assert len(credential) == 1, listing
        # The embedding model comes with the collections (joined), never on its own.
        assert not [
            s for s in statements if s.startswith("SELECT") and 'FROM "catalog_aimodel" WHERE' in s
        ], listing
        # No highlighted snippets: the prompt carries the chunks' text.
        assert not [s for s in statements if "ts_headline" in s], listing
        assert len(statements) <= MAX_STATEMENTS, listing
        # The query was embedded (in a helper thread) and recorded once, here.
        assert UsageRecord.objects.filter(kind=UsageKind.EMBEDDING).count() == before + 1

    def test_the_answer_is_grounded_as_before(self, org_a, client_for, assistant):
        status, events = _chat(client_for(org_a, "member"), assistant, "When is a refund paid?")

        assert status == 200 and events[-1][0] == "done"
        sources = dict(events)["sources"]["sources"]
        assert sources and all(s["document_title"] for s in sources)
        answer = "".join(data["text"] for name, data in events if name == "delta")
        assert "[1]" in answer or any(s["cited"] for s in sources)


@pytest.mark.django_db
class TestCredentialsReadEveryTurn:
    def test_a_changed_key_applies_to_the_next_turn(
        self, org_a, client_for, openai_assistant, provider_server
    ):
        client = client_for(org_a, "member")
        provider_server.enqueue(Reply(text="First answer."))
        status, events = _chat(client, openai_assistant, "Refunds?")
        assert status == 200 and events[-1][0] == "done"

        with schema_context(org_a.slug):
            credential = ProviderCredential.objects.get(provider="openai")
            assistant_services.credential_update(credential=credential, api_key="sk-revoked-0000")
        status, events = _chat(client, openai_assistant, "Refunds again?")

        # The provider saw the new (wrong) key on the very next turn.
        assert status == 200 and events[-1] == (
            "error",
            {"code": "provider_authentication_failed", "message": events[-1][1]["message"]},
        )
        assert provider_server.requests[-1].headers["authorization"] == "Bearer sk-revoked-0000"

        with schema_context(org_a.slug):
            assistant_services.credential_update(credential=credential, api_key=GOOD_KEY)
        provider_server.enqueue(Reply(text="Back again."))
        status, events = _chat(client, openai_assistant, "And now?")
        assert status == 200 and events[-1][0] == "done"

    def test_a_deleted_key_is_not_used_again(self, org_a, client_for, openai_assistant):
        client = client_for(org_a, "member")
        with schema_context(org_a.slug):
            assistant_services.credential_delete(
                credential=ProviderCredential.objects.get(provider="openai")
            )

        status, body = _chat(client, openai_assistant, "Refunds?")

        assert status == 400 and body["error"]["code"] == "provider_authentication_failed"
        with schema_context(org_a.slug):
            assert not Message.objects.exists()  # refused before anything was stored

    def test_a_fallback_model_gets_the_organizations_credential(
        self, org_a, openai_assistant, provider_server
    ):
        from assistants.catalog.models import AIModel

        with schema_context(org_a.slug):
            openai_assistant.fallback_model = AIModel.objects.get(
                provider="openai", model_id="gpt-4o"
            )
            openai_assistant.save(update_fields=["fallback_model"])
        turn = _prepare(org_a, openai_assistant, "Refunds?")

        assert turn.stream.fallback is not None
        assert turn.stream.fallback.provider.config.api_key == GOOD_KEY
        assert turn.stream.fallback.provider.config.base_url == f"{provider_server.url}/v1"


@pytest.mark.django_db
class TestPromptTokensCountedOnce:
    def test_a_cut_short_answer_is_charged_the_placeholders_estimate(
        self, org_a, openai_assistant, provider_server
    ):
        provider_server.enqueue(Reply(text=" ".join(["word"] * 40), chunk_delay=0.02))
        turn = _prepare(org_a, openai_assistant, "How long does a refund take?")
        estimate = turn.assistant_message.estimated_prompt_tokens

        async def two_deltas_then_leave():
            events = streaming.turn_events(turn)
            seen = 0
            async for event in events:
                seen += event.name == "delta"
                if seen == 2:
                    break
            await events.aclose()

        async_to_sync(two_deltas_then_leave)()

        with schema_context(org_a.slug):
            message = Message.objects.get(pk=turn.assistant_message.pk)
        record = UsageRecord.objects.get(organization=org_a.organization, kind=UsageKind.CHAT)
        assert message.status == MessageStatus.CANCELLED
        # What the recovery sweep would charge for an orphan is what a cut answer is charged.
        assert record.tokens_estimated and record.prompt_tokens == estimate
        # The system prompt (instructions and the sources' text) is most of it.
        assert estimate > len(turn.request.system) // 8

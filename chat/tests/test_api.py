"""Chat over HTTP: SSE order and stored rows, memory, citations, failures, isolation."""

import re
import warnings
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django_tenants.utils import schema_context

from assistants import services as assistant_services
from assistants.tests.providers.fake_server import Reply
from billing.models import UsageRecord
from chat.models import ChatSession, Message, MessageStatus
from knowledge_base.models import DocumentChunk
from tests.helpers import GOOD_KEY, assert_error, parse_sse, stream_body

warnings.filterwarnings(
    "ignore", message="StreamingHttpResponse must consume asynchronous iterators"
)


def _chat(client, assistant, message, **extra):
    payload = {"assistant": str(assistant.id), "message": message, **extra}
    return client.post("/api/v1/chat", payload, format="json")


def _events(response):
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "text/event-stream"
    assert response["X-Accel-Buffering"] == "no" and response["Cache-Control"] == "no-cache"
    return parse_sse(stream_body(response))


@pytest.mark.django_db
class TestStreaming:
    def test_events_arrive_in_order_and_the_rows_are_stored(self, org_a, client_for, assistant):
        events = _events(
            _chat(client_for(org_a, "member"), assistant, "How long does a refund take?")
        )

        names = [name for name, _ in events]
        assert names[0] == "session" and names[-3:] == ["sources", "usage", "done"]
        assert set(names[1:-3]) == {"delta"} and len(names) > 4
        session_data, usage, done = events[0][1], events[-2][1], events[-1][1]
        answer = "".join(data["text"] for name, data in events if name == "delta")
        assert session_data["answer_mode"] == "extractive"

        with schema_context(org_a.slug):
            message = Message.objects.get(pk=done["message_id"])
            session = ChatSession.objects.get(pk=session_data["session_id"])
        assert message.status == MessageStatus.COMPLETE and message.content == answer
        assert message.total_tokens == usage["total_tokens"] > 0
        assert message.latency_ms is not None and message.time_to_first_token_ms is not None
        assert session.message_count == 2 and session.title == "How long does a refund take?"
        assert session.total_tokens == message.total_tokens
        assert UsageRecord.objects.filter(organization=org_a.organization, kind="chat").count() == 1

    def test_citations_point_at_the_chunks_they_quote(self, org_a, client_for, assistant):
        events = _events(_chat(client_for(org_a, "member"), assistant, "When is a refund paid?"))
        sources = dict(events)["sources"]["sources"]
        answer = "".join(d["text"] for n, d in events if n == "delta")
        cited = [s for s in sources if s["cited"]]
        assert cited, answer
        with schema_context(org_a.slug):
            for source in cited:
                chunk = DocumentChunk.objects.get(pk=source["chunk_id"])
                assert f"[{source['index']}]" in answer
                assert source["document_title"] == chunk.document.title
        assert cited[0]["document_title"] == "Refund policy"

    def test_follow_up_is_retrieved_with_the_earlier_topic(self, org_a, client_for, assistant):
        client = client_for(org_a, "member")
        first = _events(_chat(client, assistant, "What is the refund policy?"))
        session_id = first[0][1]["session_id"]

        second = _events(_chat(client, assistant, "How does it work?", session=session_id))

        with schema_context(org_a.slug):
            answer = Message.objects.get(pk=second[-1][1]["message_id"])
        assert "refund policy" in answer.retrieval_query.lower()
        assert answer.sources[0]["document_title"] == "Refund policy"
        assert second[0][1]["session_id"] == session_id

    def test_llm_assistant_uses_history_rewrite_and_prices_the_answer(
        self, org_a, client_for, openai_assistant, provider_server
    ):
        client = client_for(org_a, "member")
        provider_server.enqueue(Reply(text="Refunds take five days [1].", usage=(300, 20)))
        first = _events(_chat(client, openai_assistant, "What is the refund policy?"))
        provider_server.enqueue(
            Reply(text="refund policy process steps", usage=(50, 5)),  # the query rewrite
            Reply(text="You send it back, then we pay [1].", usage=(400, 30)),
        )

        second = _events(
            _chat(client, openai_assistant, "How does it work?", session=first[0][1]["session_id"])
        )

        answer_request = provider_server.last.body
        roles = [m["role"] for m in answer_request["messages"]]
        assert roles == ["system", "user", "assistant", "user"]
        assert "[1]" in answer_request["messages"][0]["content"]  # numbered sources in the prompt
        with schema_context(org_a.slug):
            answer = Message.objects.get(pk=second[-1][1]["message_id"])
            session = ChatSession.objects.get(pk=answer.session_id)
        assert answer.retrieval_query == "refund policy process steps"
        answer_cost = (Decimal(400) * Decimal("0.15") + Decimal(30) * Decimal("0.60")) / 10**6
        rewrite_cost = (Decimal(50) * Decimal("0.15") + Decimal(5) * Decimal("0.60")) / 10**6
        cents = Decimal("0.000001")
        assert answer.cost == answer_cost.quantize(cents, ROUND_HALF_UP) + rewrite_cost.quantize(
            cents, ROUND_HALF_UP
        )
        assert answer.total_tokens == 430 + 55 and answer.sources[0]["cited"] is True
        assert session.message_count == 4
        assert session.total_cost == sum(
            UsageRecord.objects.filter(organization=org_a.organization, kind="chat").values_list(
                "cost", flat=True
            )
        )

    def test_switching_assistant_mid_conversation_answers_with_the_new_model_and_history(
        self, org_a, client_for, assistant, provider_server
    ):
        """The first answer comes from an offline assistant; the next question is sent
        to another assistant (an OpenAI model): it answers, with the conversation so far
        as its history, and the session, the answers and the ledger say who answered."""
        from tests.factories import make_assistant

        with schema_context(org_a.slug):
            assistant_services.credential_create(
                provider="openai", api_key=GOOD_KEY, base_url=f"{provider_server.url}/v1"
            )
        gpt = make_assistant(org_a, "openai/gpt-4o-mini", with_knowledge=False)
        client = client_for(org_a, "member")
        first = _events(_chat(client, assistant, "How long does a refund take?"))
        session_id = first[0][1]["session_id"]
        provider_server.enqueue(
            Reply(text="refund duration", usage=(40, 4)),  # the follow-up's query rewrite
            Reply(text="Five business days, as said above.", usage=(200, 12)),
        )

        second = _events(_chat(client, gpt, "And in short?", session=session_id))

        assert second[0][1]["session_id"] == session_id  # the same conversation
        messages = provider_server.last.body["messages"]
        assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
        assert messages[1]["content"] == "How long does a refund take?"
        with schema_context(org_a.slug):
            session = ChatSession.objects.get(pk=session_id)
            answers = list(session.messages.filter(role="assistant").order_by("created_at"))
            ledger = dict(
                UsageRecord.objects.filter(
                    organization=org_a.organization, kind="chat", assistant_id=gpt.id
                ).values_list("assistant_id", "total_tokens")
            )
        assert session.assistant_id == gpt.id and session.message_count == 4
        assert [a.assistant_id for a in answers] == [assistant.id, gpt.id]
        assert messages[2]["content"] == answers[0].content  # the offline answer, as history
        assert [a.model for a in answers] == [assistant.model.model_id, "gpt-4o-mini"]
        assert ledger  # the switched turn is charged to the new assistant
        listed = client.get(f"/api/v1/chat/sessions/{session_id}/messages").json()["results"]
        assert [m["assistant_name"] for m in listed if m["role"] == "assistant"] == [
            assistant.name,
            gpt.name,
        ]
        detail = client.get(f"/api/v1/chat/sessions/{session_id}").json()
        assert detail["assistant"] == str(gpt.id) and detail["assistant_name"] == gpt.name

    def test_provider_failure_mid_stream_sends_an_error_event(
        self, org_a, client_for, openai_assistant, provider_server
    ):
        provider_server.enqueue(Reply(text="This answer will be cut short here", cut_after=3))
        events = _events(_chat(client_for(org_a, "member"), openai_assistant, "Refunds?"))
        assert events[-1][0] == "error" and events[-1][1]["code"]
        with schema_context(org_a.slug):
            message = Message.objects.filter(role="assistant").get()
        assert message.status == MessageStatus.ERROR and message.content  # the text so far is kept

    def test_clients_may_ask_for_an_event_stream(self, org_a, client_for, assistant):
        client = client_for(org_a, "member")
        payload = {"assistant": str(assistant.id), "message": "Refunds?"}
        response = client.post(
            "/api/v1/chat", payload, format="json", HTTP_ACCEPT="text/event-stream"
        )
        assert _events(response)[-1][0] == "done"
        bad = client.post(
            "/api/v1/chat",
            {**payload, "message": ""},
            format="json",
            HTTP_ACCEPT="text/event-stream",
        )
        assert bad.status_code == 400 and b"message" in bad.content

    def test_non_streamed_answer_as_json(self, org_a, client_for, assistant):
        response = _chat(client_for(org_a, "viewer"), assistant, "Refund timing?", stream=False)
        assert response.status_code == 200
        body = response.json()
        assert body["message"]["status"] == "complete" and body["message"]["sources"]


@pytest.mark.django_db
class TestBadInput:
    @pytest.mark.parametrize(
        ("payload", "field"),
        [
            ({"message": ""}, "message"),
            ({"message": "x" * 8001}, "message"),
            ({"top_k": 0}, "top_k"),
            ({"top_k": 21}, "top_k"),
            ({"assistant": "00000000-0000-0000-0000-000000000000"}, "assistant"),
        ],
    )
    def test_is_refused_with_field_errors_and_nothing_stored(
        self, org_a, client_for, assistant, payload, field
    ):
        body = {"assistant": str(assistant.id), "message": "hello", **payload}
        response = client_for(org_a, "member").post("/api/v1/chat", body, format="json")
        assert field in assert_error(response, 400)["fields"]
        with schema_context(org_a.slug):
            assert not Message.objects.exists() and not ChatSession.objects.exists()

    def test_inactive_assistant(self, org_a, client_for, assistant):
        with schema_context(org_a.slug):
            assistant.is_active = False
            assistant.save()
        response = _chat(client_for(org_a, "member"), assistant, "hi")
        assert "inactive" in assert_error(response, 400)["fields"]["assistant"][0]

    def test_a_key_kept_to_one_assistant_cannot_switch_its_session_to_another(
        self, org_a, client_for, assistant
    ):
        from tests.factories import api_key_for, make_assistant

        other = make_assistant(org_a, with_knowledge=False)
        _, key = api_key_for(org_a, "chat:write", assistant_ids=[assistant.id])
        client = client_for(org_a, api_key=key)
        session_id = _events(_chat(client, assistant, "hi"))[0][1]["session_id"]
        response = _chat(client, other, "hello", session=session_id)
        assert "Unknown assistant" in assert_error(response, 400)["fields"]["assistant"][0]
        with schema_context(org_a.slug):
            session = ChatSession.objects.get(pk=session_id)
            assert session.assistant_id == assistant.id and session.messages.count() == 2

    def test_limit_is_configurable(self, org_a, client_for, assistant, settings):
        settings.CHAT_MAX_MESSAGE_CHARS = 10
        assert_error(_chat(client_for(org_a, "member"), assistant, "x" * 11), 400)


@pytest.mark.django_db
class TestSessionsAndMessages:
    def _session(self, client, assistant, text="What is the refund policy?"):
        events = _events(_chat(client, assistant, text))
        return events[0][1]["session_id"], events[-1][1]["message_id"]

    def test_list_detail_update_messages_export_delete(self, org_a, client_for, assistant):
        client = client_for(org_a, "member")
        session_id, _ = self._session(client, assistant)

        listed = client.get("/api/v1/chat/sessions", {"assistant": str(assistant.id)}).json()
        assert [s["id"] for s in listed["results"]] == [session_id]
        changed = client.patch(
            f"/api/v1/chat/sessions/{session_id}",
            {"title": "Refunds", "tags": ["billing"], "is_archived": True},
            format="json",
        )
        assert changed.json()["title"] == "Refunds"
        assert client.get("/api/v1/chat/sessions", {"archived": "false"}).json()["count"] == 0
        messages = client.get(
            f"/api/v1/chat/sessions/{session_id}/messages", {"page_size": 1}
        ).json()
        assert messages["count"] == 2 and messages["next"]

        markdown = client.get(f"/api/v1/chat/sessions/{session_id}/export", {"type": "markdown"})
        assert markdown["Content-Type"].startswith("text/markdown")
        assert b"# Refunds" in markdown.content and b"Sources:" in markdown.content
        exported = client.get(f"/api/v1/chat/sessions/{session_id}/export").json()
        assert len(exported["messages"]) == 2

        assert client.delete(f"/api/v1/chat/sessions/{session_id}").status_code == 204
        with schema_context(org_a.slug):
            assert not Message.objects.exists()

    def test_markdown_export_keeps_a_regenerated_answer_with_its_question(
        self, org_a, client_for, assistant
    ):
        client = client_for(org_a, "member")
        session_id, answer_id = self._session(client, assistant, "How long does a refund take?")
        _events(_chat(client, assistant, "Who approves expenses?", session=session_id))
        _events(client.post(f"/api/v1/chat/messages/{answer_id}/regenerate", {}, format="json"))

        text = client.get(
            f"/api/v1/chat/sessions/{session_id}/export", {"type": "markdown"}
        ).content.decode()

        first, second = text.index("How long does a refund take?"), text.index("Who approves")
        earlier = text.index("(earlier answer, version 1 of 2)")
        assert first < earlier < second  # both versions under their question, in order
        assert text.count(f"## {assistant.name}") == 3
        for block in text.split("Sources:")[1:]:
            listed = [line for line in block.split("\n\n")[0].splitlines() if line.strip()]
            places = [re.sub(r"^- (\[\d+\], )*\[\d+\] ", "", line) for line in listed]
            assert listed and len(places) == len(set(places))  # a document and page once
        exported = client.get(f"/api/v1/chat/sessions/{session_id}/export").json()["messages"]
        regenerated = exported[-1]
        assert regenerated["parent"] == answer_id and regenerated["assistant"] == assistant.name

    def test_feedback_regenerate_and_edit(self, org_a, client_for, assistant):
        client = client_for(org_a, "member")
        _session_id, answer_id = self._session(client, assistant)

        rated = client.post(
            f"/api/v1/chat/messages/{answer_id}/feedback",
            {"rating": -1, "comment": "vague"},
            format="json",
        ).json()
        assert rated["feedback"] == {"rating": -1, "comment": "vague"}

        again = _events(
            client.post(f"/api/v1/chat/messages/{answer_id}/regenerate", {}, format="json")
        )
        with schema_context(org_a.slug):
            regenerated = Message.objects.get(pk=again[-1][1]["message_id"])
        assert str(regenerated.parent_id) == answer_id

        question_id = str(regenerated.reply_to_id)
        edited = _events(
            client.post(
                f"/api/v1/chat/messages/{question_id}/edit",
                {"content": "How do I ship a parcel?"},
                format="json",
            )
        )
        with schema_context(org_a.slug):
            question = Message.objects.get(pk=question_id)
            answer = Message.objects.get(pk=edited[-1][1]["message_id"])
        assert question.is_edited and question.original_content == "What is the refund policy?"
        assert answer.sources[0]["document_title"] == "Shipping guide"

    def test_only_answers_can_be_rated(self, org_a, client_for, assistant):
        client = client_for(org_a, "member")
        _, answer_id = self._session(client, assistant)
        with schema_context(org_a.slug):
            question = Message.objects.get(pk=answer_id).reply_to_id
        response = client.post(
            f"/api/v1/chat/messages/{question}/feedback", {"rating": 1}, format="json"
        )
        assert_error(response, 400)

    def test_viewer_chats_but_cannot_change_assistants(self, org_a, client_for, assistant):
        viewer = client_for(org_a, "viewer")
        assert _events(_chat(viewer, assistant, "Refund?"))[-1][0] == "done"
        assert_error(viewer.patch(f"/api/v1/assistants/{assistant.id}", {"name": "x"}), 403)

    def test_others_private_sessions_are_invisible(self, org_a, client_for, assistant):
        session_id, answer_id = self._session(client_for(org_a, "member"), assistant)
        viewer = client_for(org_a, "viewer")
        assert viewer.get("/api/v1/chat/sessions").json()["count"] == 0
        assert_error(viewer.get(f"/api/v1/chat/sessions/{session_id}"), 404)
        assert_error(
            viewer.post(
                f"/api/v1/chat/messages/{answer_id}/feedback", {"rating": 1}, format="json"
            ),
            404,
        )
        # the admin sees every session; not among their own
        admin = client_for(org_a, "admin")
        assert admin.get("/api/v1/chat/sessions").json()["count"] == 1
        assert admin.get("/api/v1/chat/sessions", {"owner": "me"}).json()["count"] == 0

    def test_an_admin_reads_a_members_conversation_labelled_with_its_owner_but_cannot_write(
        self, org_a, client_for, assistant
    ):
        # given a member's private conversation
        member = client_for(org_a, "member")
        session_id, answer_id = self._session(member, assistant)
        admin = client_for(org_a, "admin")
        _, own_answer = self._session(admin, assistant, "How long does shipping take?")

        # when the admin lists their own, then everyone's
        mine = admin.get("/api/v1/chat/sessions", {"owner": "me"}).json()["results"]
        everyone = admin.get("/api/v1/chat/sessions", {"owner": "everyone"}).json()["results"]

        # then their own list holds their conversation only; everyone's is labelled
        assert [row["owner"]["email"] for row in mine] == [org_a.admin.email]
        members = [row for row in everyone if row["id"] == session_id]
        assert members and members[0]["owner"]["email"] == org_a.member.email
        assert admin.get(f"/api/v1/chat/sessions/{session_id}/messages").json()["count"] == 2
        # and every write into the member's conversation is refused, changing nothing
        assert_error(_chat(admin, assistant, "Let me add something", session=session_id), 403)
        assert_error(admin.patch(f"/api/v1/chat/sessions/{session_id}", {"title": "x"}), 403)
        assert_error(admin.delete(f"/api/v1/chat/sessions/{session_id}"), 403)
        assert_error(
            admin.post(f"/api/v1/chat/messages/{answer_id}/regenerate", {}, format="json"), 403
        )
        assert_error(
            admin.post(
                f"/api/v1/chat/messages/{answer_id}/feedback", {"rating": -1}, format="json"
            ),
            403,
        )
        assert member.get(f"/api/v1/chat/sessions/{session_id}/messages").json()["count"] == 2
        assert member.get(f"/api/v1/chat/sessions/{session_id}").json()["title"] != "x"
        # while the admin's own conversation stays theirs to change
        assert admin.post(
            f"/api/v1/chat/messages/{own_answer}/feedback", {"rating": 1}, format="json"
        ).status_code in (200, 201)

    def test_a_shared_conversation_is_read_only_for_other_members(
        self, org_a, client_for, assistant
    ):
        member = client_for(org_a, "member")
        session_id, _ = self._session(member, assistant)
        shared = member.patch(f"/api/v1/chat/sessions/{session_id}", {"is_shared": True})
        assert shared.status_code == 200
        viewer = client_for(org_a, "viewer")
        assert viewer.get("/api/v1/chat/sessions", {"owner": "me"}).json()["count"] == 0
        assert viewer.get("/api/v1/chat/sessions").json()["count"] == 1
        assert_error(_chat(viewer, assistant, "Me too", session=session_id), 403)

    def test_another_organizations_session_and_message_are_404(
        self, org_a, org_b, client_for, assistant
    ):
        session_id, answer_id = self._session(client_for(org_a, "member"), assistant)
        other = client_for(org_b, "admin")
        assert_error(other.get(f"/api/v1/chat/sessions/{session_id}"), 404)
        assert_error(other.delete(f"/api/v1/chat/sessions/{session_id}"), 404)
        assert_error(
            other.post(f"/api/v1/chat/messages/{answer_id}/regenerate", {}, format="json"), 404
        )
        assert_error(
            _chat(other, assistant, "hi", session=session_id), 400
        )  # their assistant id is unknown there

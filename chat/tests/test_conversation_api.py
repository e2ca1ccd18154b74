"""The conversation endpoints over HTTP: upload and progress, search, ask (JSON and
SSE), analysis, ending, bookmarks, reactions, settings; roles and other organizations."""

import json
import warnings

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import schema_context

from chat.conversations import importing, indexing
from chat.models import ChatSession, ConversationImport, MessageReaction
from chat.tests import conversation_exports as ex
from tests.helpers import assert_error, parse_sse, stream_body

warnings.filterwarnings(
    "ignore", message="StreamingHttpResponse must consume asynchronous iterators"
)


def upload(client, data: bytes, name="export.zip", **fields):
    return client.post(
        "/api/v1/conversations/imports",
        {"file": SimpleUploadedFile(name, data), **fields},
        format="multipart",
    )


def small_export() -> bytes:
    return ex.chatgpt_zip(ex.chatgpt_export(long_turns=6))


@pytest.fixture
def imported(org_a, client_for, assistant):
    """The member's ChatGPT export, uploaded and imported by the job, then indexed."""
    response = upload(client_for(org_a, "member"), small_export(), source="chatgpt")
    assert response.status_code == 202, response.content
    with schema_context(org_a.slug):
        importing.conversation_import_run(import_id=response.json()["id"])
        indexing.messages_index_pending(organization=org_a.organization)
    return response.json()["id"]


@pytest.mark.django_db
class TestImports:
    def test_upload_then_poll_the_job(self, org_a, client_for, imported):
        client = client_for(org_a, "member")
        job = client.get(f"/api/v1/conversations/imports/{imported}").json()
        assert job["status"] == "completed" and job["progress"] == 1.0
        assert job["conversations_created"] == 3 and len(job["problems"]) == 2
        assert {r["title"] for r in job["results"]} >= {"Trip to Lisbon", "Tax return questions"}
        listed = client.get("/api/v1/conversations/imports").json()
        assert [j["id"] for j in listed["results"]] == [imported]
        # The sidebar's filter by source.
        sessions = client.get("/api/v1/chat/sessions", {"source": "chatgpt"}).json()
        assert sessions["count"] == 3 and {s["source"] for s in sessions["results"]} == {"chatgpt"}
        assert client.get("/api/v1/chat/sessions", {"source": "claude"}).json()["count"] == 0

    def test_another_person_sees_neither_the_job_nor_its_conversations(
        self, org_a, client_for, imported
    ):
        viewer = client_for(org_a, "viewer")
        assert_error(viewer.get(f"/api/v1/conversations/imports/{imported}"), 404)
        assert viewer.get("/api/v1/conversations/imports").json()["count"] == 0
        assert viewer.get("/api/v1/chat/sessions", {"source": "chatgpt"}).json()["count"] == 0
        admin = client_for(org_a, "admin")
        assert admin.get(f"/api/v1/conversations/imports/{imported}").status_code == 200

    def test_another_organization_gets_404(self, org_a, org_b, client_for, imported):
        assert_error(
            client_for(org_b, "admin").get(f"/api/v1/conversations/imports/{imported}"), 404
        )

    def test_refusals_store_nothing(self, org_a, client_for, assistant, settings):
        client = client_for(org_a, "member")
        settings.CONVERSATIONS_IMPORT_MAX_MB = 1
        assert_error(upload(client, b"[" + b" " * 2**20 + b"]", "c.json"), 413)
        error = assert_error(upload(client, b"just text", "c.txt"), 400)
        assert "file" in error["fields"]
        assert_error(upload(client, b"[]", "c.json", source="myspace"), 400)
        assert_error(upload(client, b"[]", "c.json", assistant="not-a-uuid"), 400)
        with schema_context(org_a.slug):
            assert not ConversationImport.objects.exists()

    def test_estimate_before_analysing(self, org_a, client_for, imported):
        estimate = client_for(org_a, "member").get(
            f"/api/v1/conversations/imports/{imported}/estimate"
        )
        assert estimate.json()["conversations"] == 3
        assert estimate.json()["models"] == [
            "local: extractive summary, YAKE topics, VADER sentiment"
        ]


@pytest.mark.django_db
class TestSearchAndAsk:
    def test_search_in_each_mode(self, org_a, client_for, imported):
        client = client_for(org_a, "member")
        for mode in ("vector", "keyword", "hybrid"):
            body = client.post(
                "/api/v1/conversations/search",
                {"query": "Lisbon tram 28", "mode": mode},
                format="json",
            ).json()
            top = body["results"][0]
            assert top["session_title"] == "Trip to Lisbon", mode
            assert top["link"] == f"/chat/{top['session_id']}?message={top['message_id']}"
            assert top["source"] == "chatgpt"

    def test_the_conversation_list_finds_what_was_said_not_only_titles(
        self, org_a, client_for, imported
    ):
        """The chat sidebar's search box: a word only a message holds ("trams", stemmed,
        against "tram 28") finds its conversation; a word nobody said finds none."""
        client = client_for(org_a, "member")

        def titles(search):
            body = client.get("/api/v1/chat/sessions", {"search": search, "owner": "me"}).json()
            return [row["title"] for row in body["results"]]

        assert titles("trams") == ["Trip to Lisbon"]
        assert titles("Lisbon") == ["Trip to Lisbon"]  # the title still counts
        assert titles("submarine") == []
        assert titles('"yellow tram"') == ["Trip to Lisbon"]  # a quoted phrase
        # another member's conversation is not searched by "me"
        assert (
            client_for(org_a, "viewer")
            .get("/api/v1/chat/sessions", {"search": "trams", "owner": "me"})
            .json()["count"]
            == 0
        )

    def test_bad_search_input_gets_field_errors(self, org_a, client_for, imported):
        client = client_for(org_a, "member")
        error = assert_error(
            client.post(
                "/api/v1/conversations/search", {"query": "x", "mode": "psychic"}, format="json"
            ),
            400,
        )
        assert "mode" in error["fields"]
        error = assert_error(
            client.post(
                "/api/v1/conversations/search",
                {"query": "x", "page": 100, "page_size": 50},
                format="json",
            ),
            400,
        )
        assert "page" in error["fields"]

    def test_ask_as_json(self, org_a, client_for, imported):
        body = (
            client_for(org_a, "member")
            .post(
                "/api/v1/conversations/ask",
                {"question": "Where does tram 28 stop?", "stream": False},
                format="json",
            )
            .json()
        )
        assert "Martim Moniz" in body["answer"]
        cited = [e for e in body["excerpts"] if e["cited"]]
        assert cited and cited[0]["conversation_title"] == "Trip to Lisbon"
        assert body["usage"]["total_tokens"] > 0 and body["model"] == "local/extractive"

    def test_ask_streams_cited_excerpts(self, org_a, client_for, imported):
        response = client_for(org_a, "member").post(
            "/api/v1/conversations/ask", {"question": "What was the trip budget?"}, format="json"
        )
        assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
        events = parse_sse(stream_body(response))
        names = [name for name, _ in events]
        assert names[0] == "excerpts" and names[-2:] == ["usage", "done"]
        assert "delta" in names
        done = events[-1][1]
        assert "800 EUR" in done["answer"]
        assert any(
            e["cited"] and e["conversation_title"] == "Trip to Lisbon" for e in done["excerpts"]
        )

    def test_a_viewer_asking_finds_nothing_of_the_members(self, org_a, client_for, imported):
        body = (
            client_for(org_a, "viewer")
            .post(
                "/api/v1/conversations/ask",
                {"question": "Where does tram 28 stop?", "stream": False},
                format="json",
            )
            .json()
        )
        assert body["excerpts"] == [] and "Martim" not in body["answer"]


@pytest.mark.django_db
class TestAnalysisAndOrganizing:
    def test_analyse_tick_and_end(self, org_a, client_for, imported):
        client = client_for(org_a, "member")
        with schema_context(org_a.slug):
            trip = ChatSession.objects.get(source_id="conv-lisbon")
        url = f"/api/v1/chat/sessions/{trip.pk}/analysis"
        assert_error(client.get(url), 404)
        created = client.post(url)
        assert created.status_code == 201, created.content
        analysis = created.json()
        assert analysis["version"] == 1 and analysis["method"] == "local"
        assert analysis["sentiment"]["label"] in ("positive", "neutral", "negative")
        assert analysis["action_items"]
        ticked = client.patch(url, {"done": [0]}, format="json").json()
        assert ticked["action_items"][0]["done"] is True
        assert client.get(url).json()["action_items"][0]["done"] is True
        # Someone else may not analyse it (nor see it).
        assert_error(client_for(org_a, "viewer").post(url), 404)
        ended = client.post(f"/api/v1/chat/sessions/{trip.pk}/end")
        assert ended.status_code == 200 and ended.json()["ended_at"]

    def test_bookmarks_and_reactions(self, org_a, client_for, imported):
        client = client_for(org_a, "member")
        with schema_context(org_a.slug):
            message = ChatSession.objects.get(source_id="conv-tax").messages.first()
        url = f"/api/v1/conversations/messages/{message.pk}"
        assert (
            client.put(f"{url}/bookmark", {"note": "for April"}, format="json").status_code == 200
        )
        marks = client.get("/api/v1/conversations/bookmarks").json()["results"]
        assert [(m["message"], m["note"]) for m in marks] == [(str(message.pk), "for April")]
        found = client.post(
            "/api/v1/conversations/search",
            {"query": "documents", "mode": "keyword", "bookmarked": True},
            format="json",
        ).json()["results"]
        assert [h["message_id"] for h in found] == [str(message.pk)]
        reaction = client.post(f"{url}/reactions", {"emoji": "👍"}, format="json")
        assert reaction.status_code == 201
        assert_error(client.post(f"{url}/reactions", {"emoji": "👍"}, format="json"), 409)
        assert_error(client.post(f"{url}/reactions", {"emoji": "two words"}, format="json"), 400)
        assert client.get(f"{url}/reactions").json()["count"] == 1
        rid = reaction.json()["id"]
        assert client.delete(f"{url}/reactions/{rid}").status_code == 204
        with schema_context(org_a.slug):
            assert not MessageReaction.objects.exists()
        assert client.delete(f"{url}/bookmark").status_code == 204
        assert client.get("/api/v1/conversations/bookmarks").json()["count"] == 0
        # The viewer cannot reach the member's message at all.
        assert_error(client_for(org_a, "viewer").put(f"{url}/bookmark", {}, format="json"), 404)

    def test_settings_are_for_admins(self, org_a, client_for, assistant):
        assert_error(
            client_for(org_a, "member").patch(
                "/api/v1/conversations/settings", {"idle_minutes": 5}, format="json"
            ),
            403,
        )
        admin = client_for(org_a, "admin")
        changed = admin.patch(
            "/api/v1/conversations/settings",
            {"idle_minutes": 5, "analysis_model": "local/extractive"},
            format="json",
        )
        assert changed.json()["idle_minutes"] == 5
        assert changed.json()["analysis_model"] == "local/extractive"
        error = assert_error(
            admin.patch(
                "/api/v1/conversations/settings",
                {"embedding_model": "local/extractive"},
                format="json",
            ),
            400,
        )
        assert "embedding_model" in error["fields"]
        assert json.loads(admin.get("/api/v1/conversations/settings").content)["idle_minutes"] == 5


@pytest.mark.django_db
class TestDocumentsInsightsAndContinuing:
    def test_an_answer_citing_a_knowledge_document_links_to_it(self, org_a, client_for, assistant):
        """A live answer from the knowledge base, found again through "ask your
        history": its excerpt names the document it cited, with the dashboard link."""
        client = client_for(org_a, "member")
        answered = client.post(
            "/api/v1/chat",
            {
                "assistant": str(assistant.pk),
                "message": "How many days until a refund reaches my card?",
                "stream": False,
            },
            format="json",
        )
        assert answered.status_code == 200, answered.content
        with schema_context(org_a.slug):
            indexing.messages_index_pending(organization=org_a.organization)
            from knowledge_base.models import Document

            refund = Document.objects.get(title="Refund policy")
        body = client.post(
            "/api/v1/conversations/ask",
            {"question": "refund to my card business days", "stream": False},
            format="json",
        ).json()
        linked = [d for e in body["excerpts"] for d in e["documents"]]
        assert linked, body["excerpts"]
        assert linked[0]["document_id"] == str(refund.pk)
        assert linked[0]["title"] == "Refund policy"
        assert linked[0]["link"] == f"/knowledge/{refund.collection_id}#document-{refund.pk}"
        # A document deleted since is not linked to.
        with schema_context(org_a.slug):
            refund.delete()
        again = client.post(
            "/api/v1/conversations/ask",
            {"question": "refund to my card business days", "stream": False},
            format="json",
        ).json()
        assert not any(
            d["document_id"] == str(refund.pk) for e in again["excerpts"] for d in e["documents"]
        )

    def test_insights_count_topics_and_sentiment_by_period(self, org_a, client_for, imported):
        client = client_for(org_a, "member")
        with schema_context(org_a.slug):
            sessions = list(ChatSession.objects.filter(source="chatgpt"))
        for session in sessions:
            assert client.post(f"/api/v1/chat/sessions/{session.pk}/analysis").status_code in (
                201,
                400,  # a conversation with no text
            )
        with schema_context(org_a.slug):
            from chat.models import ConversationAnalysis

            analysed = list(
                ConversationAnalysis.objects.filter(session__in=sessions).select_related("session")
            )
        body = client.get("/api/v1/conversations/insights", {"bucket": "month"}).json()
        assert body["conversations"] == len(analysed) > 0
        labels = [a.sentiment_label for a in analysed]
        for label in ("positive", "neutral", "negative"):
            assert body["sentiment"][label] == labels.count(label)
        assert sum(p["conversations"] for p in body["timeline"]) == len(analysed)
        # The topics of the Lisbon trip's analysis are among the top ones.
        trip = next(a for a in analysed if a.session.title == "Trip to Lisbon")
        top = {t["topic"].casefold() for t in body["topics"]}
        assert {str(t).casefold() for t in trip.topics} & top
        # Another member sees none of it; the admin sees the organization's.
        assert (
            client_for(org_a, "viewer")
            .get("/api/v1/conversations/insights")
            .json()["conversations"]
            == 0
        )
        admin = client_for(org_a, "admin").get("/api/v1/conversations/insights").json()
        assert admin["conversations"] == len(analysed)
        # A range that holds none of them, and bad input.
        empty = client.get(
            "/api/v1/conversations/insights", {"date_from": "2999-01-01T00:00:00Z"}
        ).json()
        assert empty["conversations"] == 0 and empty["topics"] == [] and empty["timeline"] == []
        error = assert_error(client.get("/api/v1/conversations/insights", {"bucket": "year"}), 400)
        assert "bucket" in error["fields"]
        error = assert_error(
            client.get(
                "/api/v1/conversations/insights",
                {"date_from": "2024-02-01T00:00:00Z", "date_to": "2024-01-01T00:00:00Z"},
            ),
            400,
        )
        assert "date_to" in error["fields"]

    def test_continue_an_imported_conversation_with_another_assistant(
        self, org_a, client_for, imported, provider_server
    ):
        """The imported trip continued with an OpenAI assistant: a new session of the
        member whose history the next question is sent with."""
        from assistants import services as assistant_services
        from tests.factories import make_assistant
        from tests.helpers import GOOD_KEY

        with schema_context(org_a.slug):
            assistant_services.credential_create(
                provider="openai", api_key=GOOD_KEY, base_url=f"{provider_server.url}/v1"
            )
        openai_assistant = make_assistant(org_a, "openai/gpt-4o-mini", with_knowledge=False)
        client = client_for(org_a, "member")
        with schema_context(org_a.slug):
            trip = ChatSession.objects.get(source_id="conv-lisbon")
            seen = [
                (m.role, m.content)
                for m in trip.messages.filter(role__in=["user", "assistant"])
                .exclude(id__in=trip.messages.filter(parent__isnull=False).values("parent_id"))
                .exclude(content="")
                .order_by("created_at", "id")
            ]
        response = client.post(
            f"/api/v1/chat/sessions/{trip.pk}/continue",
            {"assistant": str(openai_assistant.pk)},
            format="json",
        )
        assert response.status_code == 201, response.content
        new = response.json()
        assert new["continued_from"] == str(trip.pk) and new["source"] == "platform"
        assert new["assistant"] == str(openai_assistant.pk)
        assert new["title"] == "Trip to Lisbon (continued)"
        assert new["message_count"] == len(seen)
        messages = client.get(f"/api/v1/chat/sessions/{new['id']}/messages", {"page_size": 200})
        copied = [(m["role"], m["content"]) for m in messages.json()["results"]]
        assert copied == seen
        # The next question goes to the OpenAI server with the trip as its history.
        answered = client.post(
            "/api/v1/chat",
            {
                "assistant": str(openai_assistant.pk),
                "session": new["id"],
                "message": "And how much of the budget is left?",
                "stream": False,
            },
            format="json",
        )
        assert answered.status_code == 200, answered.content
        sent = [m for m in provider_server.last.body["messages"] if m["role"] != "system"]
        assert [(m["role"], m["content"]) for m in sent[:-1]] == seen
        assert sent[-1] == {"role": "user", "content": "And how much of the budget is left?"}
        # The copies are not indexed twice: the trip is found once.
        with schema_context(org_a.slug):
            indexing.messages_index_pending(organization=org_a.organization)
        hits = client.post(
            "/api/v1/conversations/search",
            {"query": "tram 28 Lisbon", "mode": "keyword"},
            format="json",
        ).json()["results"]
        assert {h["session_id"] for h in hits} == {str(trip.pk)}
        # The original is unchanged; someone else cannot continue it; bad input.
        with schema_context(org_a.slug):
            assert ChatSession.objects.get(pk=trip.pk).message_count == trip.message_count
        assert_error(
            client_for(org_a, "viewer").post(f"/api/v1/chat/sessions/{trip.pk}/continue"), 404
        )
        error = assert_error(
            client.post(
                f"/api/v1/chat/sessions/{trip.pk}/continue", {"assistant": "nope"}, format="json"
            ),
            400,
        )
        assert "assistant" in error["fields"]

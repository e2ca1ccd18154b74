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

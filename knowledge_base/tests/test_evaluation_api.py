"""Retrieval evaluation over HTTP: questions entered, uploaded (field errors, size limit),
listed and deleted; a run started, refused while one is unfinished, and read with its
figures; roles, audit entries, and another organization's 404."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from knowledge_base.evaluation import parsing, runs
from knowledge_base.models import EvaluationRun
from tests.factories import add_text, process_pending
from tests.helpers import assert_error


@pytest.fixture
def handbook(org_a, collection):
    add_text(org_a, collection, "Passwords", "To reset your password open Settings, Security.")
    add_text(org_a, collection, "Shipping", "Parcels leave the Lyon warehouse every weekday.")
    assert {r.status for r in process_pending(org_a)} == {"completed"}
    return f"/api/v1/collections/{collection.id}/evaluation"


@pytest.mark.django_db
class TestQuestions:
    def test_a_member_adds_lists_and_deletes_a_question(self, org_a, client_for, handbook):
        member = client_for(org_a, "member")

        created = member.post(
            f"{handbook}/questions",
            {"text": "reset my password", "documents": [{"document": "Passwords", "grade": 2}]},
        )

        assert created.status_code == 201, created.json()
        body = created.json()
        assert body["documents"][0]["document_title"] == "Passwords"
        assert body["documents"][0]["grade"] == 2 and body["source"] == "entered"
        listed = member.get(f"{handbook}/questions").json()
        assert listed["count"] == 1 and listed["results"][0]["text"] == "reset my password"
        assert member.delete(f"{handbook}/questions/{body['id']}").status_code == 204
        assert member.get(f"{handbook}/questions").json()["count"] == 0
        with schema_context(org_a.slug):
            actions = set(AuditEvent.objects.values_list("action", flat=True))
        assert {"knowledge.eval_question_added", "knowledge.eval_question_deleted"} <= actions

    def test_an_unknown_document_and_a_missing_text_are_field_errors(
        self, org_a, client_for, handbook
    ):
        member = client_for(org_a, "member")
        error = assert_error(
            member.post(
                f"{handbook}/questions", {"text": "q", "documents": [{"document": "Nope"}]}
            ),
            400,
        )
        assert "Nope" in error["fields"]["documents"][0]
        error = assert_error(member.post(f"{handbook}/questions", {"documents": []}), 400)
        assert "text" in error["fields"]
        assert any(name.startswith("documents") for name in error["fields"])

    def test_an_upload_stores_every_question_or_names_the_bad_lines(
        self, org_a, client_for, handbook
    ):
        member = client_for(org_a, "member")
        good = b"question,document\nreset my password,Passwords\nwhere is my parcel,Shipping\n"
        response = member.post(
            f"{handbook}/questions/upload",
            {"file": SimpleUploadedFile("q.csv", good)},
            format="multipart",
        )
        assert response.status_code == 201, response.json()
        assert response.json() == {"created": 2}

        bad = b'{"question": "x", "documents": ["Passwords"]}\nnot json\n'
        error = assert_error(
            member.post(
                f"{handbook}/questions/upload",
                {"file": SimpleUploadedFile("q.jsonl", bad)},
                format="multipart",
            ),
            400,
        )
        assert error["fields"]["file"] == ["line 2: not a JSON object."]
        big = SimpleUploadedFile("q.csv", b"x" * (parsing.MAX_BYTES + 1))
        assert_error(
            member.post(f"{handbook}/questions/upload", {"file": big}, format="multipart"), 413
        )
        assert member.get(f"{handbook}/questions").json()["count"] == 2

    def test_a_viewer_reads_but_cannot_add(self, org_a, client_for, handbook):
        viewer = client_for(org_a, "viewer")
        assert viewer.get(f"{handbook}/questions").status_code == 200
        assert_error(
            viewer.post(
                f"{handbook}/questions", {"text": "q", "documents": [{"document": "Passwords"}]}
            ),
            403,
        )
        assert_error(viewer.post(f"{handbook}/runs", {}), 403)


@pytest.mark.django_db
class TestRuns:
    def test_a_run_is_started_refused_twice_and_read_with_its_figures(
        self, org_a, client_for, handbook
    ):
        member = client_for(org_a, "member")
        assert_error(member.post(f"{handbook}/runs", {}), 409)  # no questions yet
        member.post(
            f"{handbook}/questions",
            {"text": "reset my password", "documents": [{"document": "Passwords"}]},
        )

        started = member.post(f"{handbook}/runs", {"modes": ["keyword", "hybrid"], "top_ks": [5]})

        assert started.status_code == 201, started.json()
        run = started.json()
        assert run["status"] == "pending" and run["steps_total"] == 2
        assert run["config"]["chunk_size"] == 120
        assert_error(member.post(f"{handbook}/runs", {}), 409)  # one at a time
        with schema_context(org_a.slug):
            runs.evaluation_run_execute(
                run_id=run["id"], owner="t", organization=org_a.organization
            )
            assert AuditEvent.objects.filter(action="knowledge.eval_run_started").exists()
        detail = member.get(f"{handbook}/runs/{run['id']}").json()
        assert detail["status"] == "completed" and detail["steps_done"] == 2
        figures = {r["mode"]: r for r in detail["results"]}
        assert figures["keyword"]["mrr"] == 1.0 and figures["hybrid"]["ndcg_at_10"] == 1.0
        assert figures["hybrid"]["per_question"][0]["reciprocal_rank"] == 1.0
        listed = member.get(f"{handbook}/runs").json()
        assert listed["count"] == 1 and len(listed["results"][0]["results"]) == 2

    def test_bad_settings_are_field_errors(self, org_a, client_for, handbook):
        error = assert_error(
            client_for(org_a, "member").post(
                f"{handbook}/runs", {"modes": ["fuzzy"], "top_ks": [0]}
            ),
            400,
        )
        assert {"modes.0", "top_ks.0"} <= set(error["fields"])
        with schema_context(org_a.slug):
            assert not EvaluationRun.objects.exists()


@pytest.mark.django_db
def test_another_organization_gets_404(org_a, org_b, client_for, handbook):
    member = client_for(org_a, "member")
    question = member.post(
        f"{handbook}/questions", {"text": "q", "documents": [{"document": "Passwords"}]}
    ).json()
    outsider = client_for(org_b, "admin")
    assert_error(outsider.get(f"{handbook}/questions"), 404)
    assert_error(outsider.delete(f"{handbook}/questions/{question['id']}"), 404)
    assert_error(outsider.post(f"{handbook}/runs", {}), 404)


@pytest.fixture
def openai_model(org_a, provider_server):
    from assistants import services as assistant_services
    from tests.helpers import GOOD_KEY

    with schema_context(org_a.slug):
        assistant_services.credential_create(
            provider="openai", api_key=GOOD_KEY, base_url=f"{provider_server.url}/v1"
        )
    return "openai/gpt-4o-mini"


@pytest.mark.django_db
class TestDrafting:
    def test_the_model_drafts_questions_a_person_approves_before_they_count(
        self, org_a, client_for, handbook, openai_model, provider_server
    ):
        from assistants.tests.providers.fake_server import Reply

        replies = ["Which question is this?", '"And this one?"']
        provider_server.enqueue(*(Reply(text=text) for text in replies))
        member = client_for(org_a, "member")

        drafted = member.post(f"{handbook}/questions/draft", {"model": openai_model, "count": 2})

        assert drafted.status_code == 201, drafted.json()
        questions = {q["text"]: q for q in drafted.json()["results"]}
        assert set(questions) == {"Which question is this?", "And this one?"}  # quotes dropped
        assert all(q["source"] == "drafted" and not q["approved"] for q in questions.values())
        # each passage went to the model (one call each, in order), and the question it
        # answered with names the passage's document
        passages = [r.body["messages"][-1]["content"] for r in provider_server.requests]
        asked = next(i for i, p in enumerate(passages) if "reset your password" in p)
        password = questions[replies[asked].strip('"')]
        assert password["documents"][0]["document_title"] == "Passwords"
        # unapproved questions do not count: no run yet
        assert_error(member.post(f"{handbook}/runs", {}), 409)

        reviewed = member.patch(
            f"{handbook}/questions/{password['id']}",
            {"text": "How do I reset my password?", "approved": True},
        )

        assert reviewed.status_code == 200, reviewed.json()
        assert (
            reviewed.json()["approved"] and reviewed.json()["text"] == "How do I reset my password?"
        )
        started = member.post(f"{handbook}/runs", {})
        assert started.status_code == 201 and started.json()["questions_total"] == 1
        with schema_context(org_a.slug):
            actions = set(AuditEvent.objects.values_list("action", flat=True))
        assert {"knowledge.eval_questions_drafted", "knowledge.eval_question_reviewed"} <= actions

    def test_the_offline_quoting_model_cannot_draft(self, org_a, client_for, handbook):
        error = assert_error(
            client_for(org_a, "member").post(
                f"{handbook}/questions/draft", {"model": "local/extractive", "count": 2}
            ),
            400,
        )
        assert "model" in error["fields"]

"""An evaluation run compared with a reranker (ADR 0099, addendum): every setting is
computed without and with it through the real search service, the reranker spoken to by
the local fake server over HTTP; a failing reranker is counted, not passed off as equal
figures; the API validates the reranker and exposes both rows."""

import pytest
from django_tenants.utils import schema_context

from assistants import services as assistant_services
from assistants.tests.providers.fake_server import Reply, error
from knowledge_base import retrieval
from knowledge_base.evaluation import metrics, runs, services
from knowledge_base.evaluation.services import DocumentReference
from knowledge_base.models import DocumentChunk
from tests.factories import add_text, process_pending
from tests.helpers import GOOD_KEY, assert_error

CORPUS = {
    "Refunds": "# Refund policy\n\nCustomers may return a product within 30 days for a full refund. "
    "The money goes back to the original payment card within five business days.",
    "Passwords": "# Account security\n\nTo reset your password, open Settings, choose Security and "
    "click 'Forgot password'. A reset link is e-mailed to you and expires after one hour.",
    "Shipping": "# Delivery\n\nParcels leave the Lyon warehouse every weekday. Express delivery "
    "inside the European Union takes two days; standard delivery takes five.",
    "Holidays": "# Time off\n\nEmployees get 25 days of paid holiday a year, booked in the HR "
    "portal at least two weeks ahead.",
}
QUESTIONS = [
    ("forgot password reset link", ["Passwords"]),
    ("express delivery EU", ["Shipping"]),
    ("refund to my card", ["Refunds"]),
    ("how many paid holiday days", ["Holidays"]),
]


def _reranker(org, provider_server, name="Cross-encoder"):
    with schema_context(org.slug):
        return assistant_services.reranker_create(
            name=name,
            api_format="cohere",
            base_url=f"{provider_server.url}/v1",
            model="rerank-test",
            api_key=GOOD_KEY,
        )


@pytest.fixture
def questions(org_a, collection):
    for title, text in CORPUS.items():
        add_text(org_a, collection, title, text)
    assert {r.status for r in process_pending(org_a)} == {"completed"}
    with schema_context(org_a.slug):
        return [
            services.question_create(
                collection=collection,
                text=text,
                documents=[DocumentReference(title) for title in titles],
                user=org_a.admin,
            )
            for text, titles in QUESTIONS
        ]


def _run(org, collection, **kwargs):
    with schema_context(org.slug):
        run = services.run_start(collection=collection, user=org.admin, **kwargs)
        return runs.evaluation_run_execute(
            run_id=run.pk, owner="task-1", organization=org.organization
        )


def _baseline_chunk_documents(org, collection) -> dict[str, list[str]]:
    """Each question's chunks (their documents) in the fused vector order, unreranked."""
    with schema_context(org.slug):
        return {
            text: [
                hit.document_id
                for hit in retrieval.search(
                    retrieval.SearchParams(
                        query=text,
                        collections=[collection],
                        mode=retrieval.SearchMode.VECTOR,
                        top_k=10,
                    ),
                    organization=org.organization,
                    user=org.admin,
                )
            ]
            for text, _ in QUESTIONS
        }


@pytest.mark.django_db
class TestRunWithReranker:
    def test_both_rows_are_stored_and_the_reranked_figures_follow_the_scores(
        self, org_a, collection, questions, provider_server
    ):
        # given: a reranker that scores every question's candidates in reverse fused order
        reranker = _reranker(org_a, provider_server)
        with schema_context(org_a.slug):
            chunks = DocumentChunk.objects.filter(document__collection=collection).count()
        assert chunks <= 10  # top_k 10 returns every chunk: the reranker reads them all
        provider_server.enqueue(
            *[Reply(scores=[(i + 1) / chunks for i in range(chunks)]) for _ in QUESTIONS]
        )
        fused = _baseline_chunk_documents(org_a, collection)

        # when
        run = _run(org_a, collection, modes=["vector"], top_ks=[10], reranker=reranker)

        # then: one row without, one with the reranker
        assert run.status == "completed", run.error
        assert run.steps_done == run.steps_total == 2 * len(QUESTIONS)
        with schema_context(org_a.slug):
            rows = {r.reranked: r for r in run.results.all()}
            judged = [
                {str(j.document_id): 1 for j in question.judgements.all()} for question in questions
            ]
        assert set(rows) == {False, True}
        expected_plain, expected_reranked = [], []
        for relevance, (text, titles) in zip(judged, QUESTIONS, strict=True):
            assert len(relevance) == len(titles)
            order = fused[text]
            expected_plain.append(
                metrics.question_score(metrics.ranked_documents(order), relevance)
            )
            expected_reranked.append(
                metrics.question_score(metrics.ranked_documents(order[::-1]), relevance)
            )
        for row, expected in ((rows[False], expected_plain), (rows[True], expected_reranked)):
            assert row.ndcg_at_10 == pytest.approx(metrics.mean([s.ndcg_at_10 for s in expected]))
            assert row.mrr == pytest.approx(metrics.mean([s.reciprocal_rank for s in expected]))
            assert row.rerank_failures == 0
        # The local embedder finds every answer first; reversed, they come last.
        assert rows[False].mrr == 1.0 and rows[True].mrr < rows[False].mrr
        rerank_calls = [r for r in provider_server.requests if r.path == "/v1/rerank"]
        assert [r.body["query"] for r in rerank_calls] == [text for text, _ in QUESTIONS]
        assert run.config["reranker"] == {
            "id": str(reranker.pk),
            "name": "Cross-encoder",
            "api_format": "cohere",
            "model": "rerank-test",
            "candidates": 30,
        }

    def test_a_failing_reranker_is_counted_not_passed_off_as_reranked(
        self, org_a, collection, questions, provider_server, settings
    ):
        reranker = _reranker(org_a, provider_server)
        provider_server.enqueue(*[error(500) for _ in QUESTIONS])

        run = _run(
            org_a, collection, modes=["hybrid"], top_ks=[5], reranker=reranker, rerank_candidates=8
        )

        assert run.status == "completed"
        with schema_context(org_a.slug):
            rows = {r.reranked: r for r in run.results.all()}
        assert rows[True].rerank_failures == len(QUESTIONS)
        assert rows[False].rerank_failures == 0
        # The fused order was scored: the same figures, and the page can say why.
        assert rows[True].ndcg_at_10 == rows[False].ndcg_at_10
        assert run.rerank_candidates == 8 and run.config["reranker"]["candidates"] == 8

    def test_a_run_without_reranker_has_one_row_per_setting(self, org_a, collection, questions):
        run = _run(org_a, collection, modes=["keyword"], top_ks=[5, 10])

        with schema_context(org_a.slug):
            assert sorted(run.results.values_list("top_k", "reranked")) == [
                (5, False),
                (10, False),
            ]
        assert run.config["reranker"] is None and run.reranker_id is None


@pytest.mark.django_db
class TestApi:
    def test_the_reranker_is_validated_and_both_rows_are_returned(
        self, org_a, org_b, client_for, collection, questions, provider_server
    ):
        member = client_for(org_a, "member")
        url = f"/api/v1/collections/{collection.id}/evaluation/runs"
        elsewhere = _reranker(org_b, provider_server)

        unknown = assert_error(member.post(url, {"reranker": str(elsewhere.pk)}), 400)
        alone = assert_error(member.post(url, {"rerank_candidates": 10}), 400)
        too_many = assert_error(
            member.post(url, {"reranker": str(elsewhere.pk), "rerank_candidates": 1000}), 400
        )

        assert unknown["fields"] == {"reranker": ["Unknown reranker."]}
        assert "rerank_candidates" in alone["fields"]
        assert "rerank_candidates" in too_many["fields"]
        reranker = _reranker(org_a, provider_server)
        started = member.post(
            url, {"modes": ["keyword"], "top_ks": [5], "reranker": str(reranker.pk)}
        )
        assert started.status_code == 201, started.json()
        body = started.json()
        assert body["reranker"] == str(reranker.pk) and body["rerank_candidates"] == 30
        assert body["config"]["reranker"]["name"] == "Cross-encoder"
        assert body["steps_total"] == 2 * len(QUESTIONS)
        with schema_context(org_a.slug):
            runs.evaluation_run_execute(
                run_id=body["id"], owner="t", organization=org_a.organization
            )
        detail = member.get(f"{url}/{body['id']}").json()
        assert [(r["reranked"], r["rerank_failures"]) for r in detail["results"]] == [
            (False, 0),
            (True, 0),
        ]
        listed = member.get(url).json()["results"][0]["results"]
        assert [r["reranked"] for r in listed] == [False, True]

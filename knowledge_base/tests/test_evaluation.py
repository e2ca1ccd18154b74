"""Retrieval evaluation: the metrics, questions entered and uploaded, a run through the
real search service (every mode), its lease and sweep, and the figures equal to what
bench/scifact.py computes on the same collection and questions."""

import importlib.util
import json
import math
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from core import errors
from knowledge_base.evaluation import metrics, runs, services
from knowledge_base.evaluation.services import DocumentReference
from knowledge_base.models import EvaluationResult, EvaluationRun, EvaluationStatus
from tests.factories import add_text, process_pending

ROOT = Path(__file__).resolve().parents[2]

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
    ("delivery of a refund", ["Refunds", "Shipping"]),
]


@pytest.fixture
def corpus(org_a, collection):
    documents = {title: add_text(org_a, collection, title, text) for title, text in CORPUS.items()}
    assert {r.status for r in process_pending(org_a)} == {"completed"}
    return documents


@pytest.fixture
def questions(org_a, collection, corpus):
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


def _run(org, collection, **kwargs) -> EvaluationRun:
    with schema_context(org.slug):
        run = services.run_start(collection=collection, user=org.admin, **kwargs)
        return runs.evaluation_run_execute(
            run_id=run.pk, owner="task-1", organization=org.organization
        )


class TestMetrics:
    def test_the_figures_of_a_ranking_follow_trec_eval(self):
        ranked = ["b", "a", "c", "a"]
        relevance = {"a": 1, "c": 2}
        documents = metrics.ranked_documents(ranked)
        assert documents == ["b", "a", "c"]
        score = metrics.question_score(documents, relevance)
        dcg = 1 / math.log2(3) + 2 / math.log2(4)
        ideal = 2 / math.log2(2) + 1 / math.log2(3)
        assert score.ndcg_at_10 == pytest.approx(dcg / ideal)
        assert score.recall_at_10 == 1.0
        assert score.reciprocal_rank == 0.5

    def test_nothing_found_scores_zero(self):
        assert metrics.question_score([], {"a": 1}) == metrics.QuestionScore(0.0, 0.0, 0.0)


@pytest.mark.django_db
class TestQuestions:
    def test_a_question_names_its_documents_by_title_or_id(self, org_a, collection, corpus):
        with schema_context(org_a.slug):
            question = services.question_create(
                collection=collection,
                text="Where is my parcel?",
                documents=[
                    DocumentReference("Shipping", grade=2),
                    DocumentReference(str(corpus["Refunds"].pk)),
                ],
            )
            grades = {j.document.title: j.grade for j in question.judgements.all()}
        assert grades == {"Shipping": 2, "Refunds": 1}

    def test_an_unknown_document_is_a_field_error(self, org_a, collection, corpus):
        with schema_context(org_a.slug), pytest.raises(errors.ValidationFailed) as raised:
            services.question_create(
                collection=collection, text="Q?", documents=[DocumentReference("Nope")]
            )
        assert "Nope" in raised.value.fields["documents"][0]

    def test_a_csv_upload_groups_rows_by_question(self, org_a, collection, corpus):
        data = (
            b"question,document,grade\n"
            b"where is my parcel,Shipping,2\n"
            b"where is my parcel,Refunds,\n"
            b"reset my password,Passwords,1\n"
        )
        with schema_context(org_a.slug):
            created = services.questions_upload(collection=collection, name="q.csv", data=data)
            assert sorted(q.text for q in created) == ["reset my password", "where is my parcel"]
            assert sum(q.judgements.count() for q in created) == 3

    def test_a_jsonl_upload_with_bad_lines_stores_nothing_and_names_the_lines(
        self, org_a, collection, corpus
    ):
        lines = [
            {"question": "reset my password", "documents": ["Passwords"]},
            {"question": "", "documents": ["Passwords"]},
            {"question": "parcel", "documents": [{"document": "Shipping", "grade": 9}]},
            {"question": "unknown", "documents": ["No such title"]},
        ]
        data = "\n".join(json.dumps(line) for line in lines).encode()
        with schema_context(org_a.slug):
            with pytest.raises(errors.ValidationFailed) as raised:
                services.questions_upload(collection=collection, name="q.jsonl", data=data)
            assert collection.evaluation_questions.count() == 0
        problems = raised.value.fields["file"]
        assert any(p.startswith("line 2:") for p in problems)
        assert any(p.startswith("line 3:") and "grade" in p for p in problems)

    def test_a_file_above_the_limit_is_refused(self, org_a, collection):
        from knowledge_base.evaluation import parsing

        with schema_context(org_a.slug), pytest.raises(errors.PayloadTooLarge):
            services.questions_upload(
                collection=collection, name="q.csv", data=b"x" * (parsing.MAX_BYTES + 1)
            )


@pytest.mark.django_db
class TestRuns:
    def test_a_run_reports_each_mode_through_the_search_service(self, org_a, collection, questions):
        run = _run(org_a, collection, top_ks=[3, 10])

        assert run.status == EvaluationStatus.COMPLETED
        assert run.steps_done == run.steps_total == len(QUESTIONS) * 3 * 2
        assert run.config["chunk_size"] == 120 and run.config["reranker"] is None
        with schema_context(org_a.slug):
            results = {(r.mode, r.top_k): r for r in run.results.all()}
        assert set(results) == {(m, k) for m in ("vector", "keyword", "hybrid") for k in (3, 10)}
        hybrid = results[("hybrid", 10)]
        assert hybrid.questions == len(QUESTIONS)
        assert 0.7 < hybrid.ndcg_at_10 <= 1.0 and 0.7 < hybrid.mrr <= 1.0
        assert hybrid.recall_at_10 == 1.0  # 4 documents: all found within 10
        first = hybrid.per_question[0]
        assert first["question"] == str(questions[0].pk) and first["reciprocal_rank"] == 1.0

    def test_a_run_is_refused_without_questions_and_while_another_runs(
        self, org_a, collection, corpus
    ):
        with schema_context(org_a.slug):
            with pytest.raises(errors.Conflict):
                services.run_start(collection=collection)
            services.question_create(
                collection=collection, text="refund", documents=[DocumentReference("Refunds")]
            )
            services.run_start(collection=collection)
            with pytest.raises(errors.Conflict):
                services.run_start(collection=collection)
            with pytest.raises(errors.ValidationFailed):
                EvaluationRun.objects.all().delete()
                services.run_start(collection=collection, modes=["fuzzy"])

    def test_a_second_delivery_does_nothing_and_a_taken_over_run_keeps_finished_results(
        self, org_a, collection, questions
    ):
        with schema_context(org_a.slug):
            run = services.run_start(collection=collection, modes=["keyword", "vector"])
            assert runs.run_claim(run_id=run.pk, owner="task-1")
            # a duplicate delivery while task-1 holds a fresh lease
            assert runs.evaluation_run_execute(run_id=run.pk, owner="task-2") is None
            # task-1 finished keyword, then its worker died: the lease expires
            EvaluationResult.objects.create(
                run=run,
                mode="keyword",
                top_k=10,
                ndcg_at_10=0.5,
                recall_at_10=0.5,
                mrr=0.5,
                questions=5,
            )
            EvaluationRun.objects.filter(pk=run.pk).update(
                lease_expires_at=timezone.now() - timedelta(seconds=1)
            )
            done = runs.evaluation_run_execute(run_id=run.pk, owner="task-3")
            assert done.status == EvaluationStatus.COMPLETED
            results = {r.mode: r for r in done.results.all()}
        assert results["keyword"].ndcg_at_10 == 0.5  # kept, not computed twice
        assert results["vector"].questions == len(QUESTIONS)

    def test_the_sweep_requeues_an_expired_run_then_gives_up(self, org_a, collection, questions):
        with schema_context(org_a.slug):
            run = services.run_start(collection=collection)
            assert runs.run_claim(run_id=run.pk, owner="dead")
            EvaluationRun.objects.filter(pk=run.pk).update(
                lease_expires_at=timezone.now() - timedelta(seconds=1)
            )
            assert runs.evaluation_runs_recover_stalled(requeue=lambda _: None) == {
                "requeued": 1,
                "failed": 0,
            }
            run.refresh_from_db()
            assert run.status == EvaluationStatus.PENDING and run.recovery_attempts == 1
            EvaluationRun.objects.filter(pk=run.pk).update(
                status=EvaluationStatus.RUNNING,
                recovery_attempts=99,
                lease_expires_at=timezone.now() - timedelta(seconds=1),
            )
            assert runs.evaluation_runs_recover_stalled(requeue=lambda _: None)["failed"] == 1
            run.refresh_from_db()
        assert run.status == EvaluationStatus.FAILED and "given up" in run.error


def _bench_scifact():
    sys.path.insert(0, str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location("bench_scifact", ROOT / "bench" / "scifact.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_scifact"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.django_db
def test_the_page_shows_the_figures_the_scifact_bench_computes(org_a, collection, questions):
    """The issue's "same figures as the bench": bench/scifact.py's evaluate() over the
    same collection and questions (document ids as its BEIR ids) gives the run's figures."""
    scifact = _bench_scifact()
    run = _run(org_a, collection)
    with schema_context(org_a.slug):
        queries = {str(q.pk): q.text for q in questions}
        qrels = {
            str(q.pk): {str(j.document_id): j.grade for j in q.judgements.all()} for q in questions
        }
        by_chunk = _chunks(collection)
        for result in run.results.all():
            bench = scifact.evaluate(
                queries, qrels, result.mode, collection, org_a.organization, by_chunk
            )
            assert bench["ndcg@10"] == pytest.approx(result.ndcg_at_10, abs=1e-12), result.mode
            assert bench["recall@10"] == pytest.approx(result.recall_at_10, abs=1e-12)
            assert bench["mrr@10"] == pytest.approx(result.mrr, abs=1e-12)


def _chunks(collection) -> dict[int, str]:
    from knowledge_base.models import DocumentChunk

    rows = DocumentChunk.objects.filter(collection=collection).values_list("id", "document_id")
    return {chunk_id: str(document_id) for chunk_id, document_id in rows}


@pytest.mark.django_db
def test_scifact_questions_exported_by_the_bench_upload_into_the_product(org_a, collection, corpus):
    """``bench/scifact.py --export-questions`` writes what the question upload reads: the
    bench's questions run on the collection's Evaluation page."""
    scifact = _bench_scifact()
    with schema_context(org_a.slug):
        for n, document in enumerate(corpus.values()):
            type(document).objects.filter(pk=document.pk).update(metadata={"beir_id": str(n)})
        queries = {"q1": "reset my password", "q2": "refund and shipping", "q3": "unjudged"}
        qrels = {"q1": {"1": 1}, "q2": {"0": 2, "2": 1}, "q3": {"99": 1}}

        data = scifact.questions_jsonl(queries, qrels, collection).encode()
        created = services.questions_upload(collection=collection, name="scifact.jsonl", data=data)

        grades = {q.text: {j.document.title: j.grade for j in q.judgements.all()} for q in created}
    assert grades == {
        "reset my password": {"Passwords": 1},
        "refund and shipping": {"Refunds": 2, "Shipping": 1},
    }


@pytest.mark.django_db
def test_a_provider_failing_to_embed_the_questions_fails_the_run_with_the_reason(
    org_a, provider_server
):
    from assistants import services as assistant_services
    from assistants.catalog.models import AIModel
    from assistants.tests.providers.fake_server import error
    from knowledge_base import services as knowledge_services

    with schema_context(org_a.slug):
        assistant_services.credential_create(
            provider="openai", api_key="sk-test-good-key-1234", base_url=f"{provider_server.url}/v1"
        )
        remote = knowledge_services.collection_create(
            name="Remote", embedding_model=AIModel.objects.get(model_id="text-embedding-3-small")
        )
        knowledge_services.document_create_text(collection=remote, title="T", text="Some text.")
        services.question_create(
            collection=remote, text="anything?", documents=[DocumentReference("T")]
        )
        provider_server.enqueue(error(401))

        run = services.run_start(collection=remote, modes=["vector"])
        done = runs.evaluation_run_execute(
            run_id=run.pk, owner="task-1", organization=org_a.organization
        )

    assert done.status == EvaluationStatus.FAILED and done.error
    assert not done.lease_owner and done.finished_at

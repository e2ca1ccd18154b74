"""Reranking (ADR 0100): the fused candidates reordered by a remote cross-encoder, spoken
to in both wire formats by the local fake server; a failing reranker never fails the
search, which then keeps its un-reranked order and says so."""

import logging

import pytest
from django_tenants.utils import schema_context

from assistants import services as assistant_services
from assistants.tests.providers.fake_server import Reply, error
from billing.models import UsageRecord
from knowledge_base import retrieval
from tests.factories import add_text, process_pending
from tests.helpers import GOOD_KEY, assert_error

CORPUS = {
    "Refunds": "# Refund policy\n\nCustomers may return a product within 30 days for a full refund. "
    "The money goes back to the original payment card within five business days.",
    "Passwords": "# Account security\n\nTo reset your password, open Settings, choose Security "
    "and click 'Forgot password'. A reset link is e-mailed to you and expires after one hour.",
    "Shipping": "# Delivery\n\nParcels leave the Lyon warehouse every weekday. Express delivery "
    "inside the European Union takes two days; standard delivery takes five.",
}
QUERY = "how long until my refund or my parcel arrives"


@pytest.fixture
def corpus(org_a, collection):
    documents = {title: add_text(org_a, collection, title, text) for title, text in CORPUS.items()}
    assert {r.status for r in process_pending(org_a)} == {"completed"}
    return documents


def _reranker(org, provider_server, api_format="cohere", **fields):
    with schema_context(org.slug):
        return assistant_services.reranker_create(
            name=f"Cross-encoder {api_format}",
            api_format=api_format,
            base_url=f"{provider_server.url}/v1",
            model="rerank-test" if api_format == "cohere" else "",
            api_key=GOOD_KEY,
            **fields,
        )


@pytest.fixture
def reranker(org_a, provider_server):
    return _reranker(org_a, provider_server)


def _search(org, collection, rerank=None, query=QUERY, top_k=3, **kwargs):
    with schema_context(org.slug):
        params = retrieval.SearchParams(
            query=query, collections=[collection], top_k=top_k, rerank=rerank, **kwargs
        )
        return retrieval.search_with_outcome(params, organization=org.organization, user=org.admin)


def _titles(result) -> list[str]:
    return [hit.document_title for hit in result.hits]


@pytest.mark.django_db
class TestRerankStage:
    @pytest.mark.parametrize("api_format", ["cohere", "tei"])
    def test_the_rerankers_scores_decide_the_order(
        self, org_a, collection, corpus, provider_server, api_format
    ):
        # given: the fused order, and a reranker that scores it the other way round
        fused = _titles(_search(org_a, collection))
        assert len(fused) == 3
        reranker = _reranker(org_a, provider_server, api_format)
        provider_server.enqueue(Reply(scores=[0.1, 0.5, 0.9]))

        # when
        result = _search(org_a, collection, retrieval.Rerank(reranker, candidates=3))

        # then
        assert _titles(result) == fused[::-1]
        assert [hit.rerank_score for hit in result.hits] == [0.9, 0.5, 0.1]
        assert result.rerank.applied and result.rerank.candidates == 3
        request = provider_server.last
        assert request.path == "/v1/rerank"
        assert request.headers["authorization"] == f"Bearer {GOOD_KEY}"
        assert request.body["query"] == QUERY
        documents = request.body["texts" if api_format == "tei" else "documents"]
        assert [d.split("\n", 1)[0].split(" > ")[0] for d in documents] == fused
        if api_format == "cohere":
            assert request.body["model"] == "rerank-test" and request.body["top_n"] == 3
        else:
            assert "documents" not in request.body and "model" not in request.body

    def test_the_reranker_reads_its_candidate_depth_and_top_k_is_kept(
        self, org_a, collection, corpus, reranker, provider_server
    ):
        result = _search(org_a, collection, retrieval.Rerank(reranker, candidates=30), top_k=1)

        # The three chunks of the collection were all candidates; the one that shares most
        # words with the question (the fake server's own score) is the one returned.
        assert len(provider_server.last.body["documents"]) == 3
        assert len(result.hits) == 1 and result.hits[0].rerank_score is not None

    @pytest.mark.parametrize(
        ("reply", "reason"),
        [(error(500), "error"), (Reply(delay=3.0), "timeout"), (Reply(body={"no": 1}), "error")],
    )
    def test_a_failing_reranker_keeps_the_fused_order(
        self, org_a, collection, corpus, reranker, provider_server, settings, caplog, reply, reason
    ):
        settings.RERANK_TIMEOUT_SECONDS = 0.5
        fused = _titles(_search(org_a, collection))
        provider_server.enqueue(reply)

        with caplog.at_level(logging.WARNING, logger="knowledge_base.retrieval.rerank"):
            result = _search(org_a, collection, retrieval.Rerank(reranker))

        assert _titles(result) == fused
        assert all(hit.rerank_score is None for hit in result.hits)
        assert not result.rerank.applied and result.rerank.skipped_reason == reason
        assert str(reranker.pk) in caplog.text and GOOD_KEY not in caplog.text

    def test_every_call_goes_through_the_outbound_policy(
        self, org_a, collection, corpus, reranker, provider_server, settings
    ):
        # The operator no longer allows loopback: the call is refused before it is made.
        settings.OUTBOUND_ALLOWED_NETWORKS = []
        fused = _titles(_search(org_a, collection))

        result = _search(org_a, collection, retrieval.Rerank(reranker))

        assert _titles(result) == fused and result.rerank.skipped_reason == "error"
        assert not [r for r in provider_server.requests if r.path.endswith("/rerank")]

    def test_a_reranking_is_recorded_in_the_usage_ledger(
        self, org_a, collection, corpus, reranker, provider_server
    ):
        before = UsageRecord.objects.filter(organization=org_a.organization, kind="rerank").count()

        _search(org_a, collection, retrieval.Rerank(reranker))

        rows = UsageRecord.objects.filter(organization=org_a.organization, kind="rerank")
        assert rows.count() == before + 1
        row = rows.order_by("-created_at").first()
        assert row.provider == "reranker" and row.model_id == "rerank-test"
        assert row.total_tokens > 0 and row.tokens_estimated and row.user_id == org_a.admin.pk

    def test_the_key_is_encrypted_at_rest(self, org_a, reranker):
        assert GOOD_KEY not in reranker.api_key_encrypted
        assert reranker.api_key_last4 == GOOD_KEY[-4:]


@pytest.mark.django_db
class TestSearchAPI:
    def _post(self, client, collection, **body):
        return client.post(
            "/api/v1/search",
            {"query": QUERY, "collections": [str(collection.id)], "top_k": 3, **body},
            format="json",
        )

    def test_rerank_true_reorders_and_says_so(
        self, org_a, client_for, collection, corpus, reranker, provider_server
    ):
        viewer = client_for(org_a, "viewer")
        plain = self._post(viewer, collection).json()
        assert plain["rerank"] is None
        provider_server.enqueue(Reply(scores=[0.1, 0.5, 0.9]))

        body = self._post(viewer, collection, rerank=True, rerank_candidates=3).json()

        titles = [hit["document_title"] for hit in plain["results"]]
        assert [hit["document_title"] for hit in body["results"]] == titles[::-1]
        assert [hit["rerank_score"] for hit in body["results"]] == [0.9, 0.5, 0.1]
        assert body["rerank"]["applied"] is True
        assert body["rerank"]["reranker_id"] == str(reranker.pk)
        assert body["rerank"]["candidates"] == 3 and body["rerank"]["skipped_reason"] == ""

    def test_a_reranker_error_still_answers_in_the_fused_order(
        self, org_a, client_for, collection, corpus, reranker, provider_server
    ):
        viewer = client_for(org_a, "viewer")
        plain = self._post(viewer, collection).json()
        provider_server.enqueue(error(503))

        response = self._post(viewer, collection, rerank=True, reranker=str(reranker.pk))

        assert response.status_code == 200
        body = response.json()
        assert body["results"] == plain["results"]
        assert body["rerank"]["applied"] is False and body["rerank"]["skipped_reason"] == "error"

    def test_rerank_without_a_reranker_is_a_field_error(self, org_a, client_for, collection):
        response = self._post(client_for(org_a, "viewer"), collection, rerank=True)

        assert "rerank" in assert_error(response, 400)["fields"]

    def test_several_rerankers_must_be_named(
        self, org_a, client_for, collection, reranker, provider_server
    ):
        _reranker(org_a, provider_server, "tei")

        response = self._post(client_for(org_a, "viewer"), collection, rerank=True)

        assert "rerank" in assert_error(response, 400)["fields"]

    @pytest.mark.parametrize(
        "body",
        [
            {"rerank": True, "reranker": "00000000-0000-0000-0000-000000000000"},
            {"reranker": "not-a-uuid"},
            {"rerank": False, "reranker": "00000000-0000-0000-0000-000000000000"},
        ],
    )
    def test_unknown_or_unused_reranker_is_a_field_error(self, org_a, client_for, collection, body):
        response = self._post(client_for(org_a, "viewer"), collection, **body)

        assert "reranker" in assert_error(response, 400)["fields"]

    @pytest.mark.parametrize("candidates", [0, 101, "many"])
    def test_candidate_depth_out_of_range(self, org_a, client_for, collection, candidates):
        response = self._post(
            client_for(org_a, "viewer"), collection, rerank=True, rerank_candidates=candidates
        )

        assert "rerank_candidates" in assert_error(response, 400)["fields"]

    def test_another_organizations_reranker_is_unknown(
        self, org_a, org_b, client_for, collection, reranker
    ):
        with schema_context(org_b.slug):
            from knowledge_base import services as knowledge_services
            from tests.factories import local_embedding_model

            theirs = knowledge_services.collection_create(
                name="Theirs", embedding_model=local_embedding_model()
            )
        response = self._post(
            client_for(org_b, "viewer"), theirs, rerank=True, reranker=str(reranker.pk)
        )

        assert "reranker" in assert_error(response, 400)["fields"]

"""Search modes on a small real corpus, and proof that the indexes are used."""

import pytest
from django.db import connection, transaction
from django_tenants.utils import schema_context

from knowledge_base import retrieval
from knowledge_base.models import TEXT_SEARCH_CONFIG
from knowledge_base.vector_indexes import vector_distance_sql
from tests.factories import add_text, process_pending

CORPUS = {
    "Refunds": "# Refund policy\n\nCustomers may return a product within 30 days for a full refund. "
    "The money goes back to the original payment card within five business days.",
    "Passwords": "# Account security\n\nTo reset your password, open Settings, choose Security and "
    "click 'Forgot password'. A reset link is e-mailed to you and expires after one hour.",
    "Shipping": "# Delivery\n\nParcels leave the Lyon warehouse every weekday. Express delivery "
    "inside the European Union takes two days; standard delivery takes five.",
}


@pytest.fixture
def corpus(org_a, collection):
    documents = {title: add_text(org_a, collection, title, text) for title, text in CORPUS.items()}
    assert {r.status for r in process_pending(org_a)} == {"completed"}
    return documents


def _search(org, collection, query, mode, **kwargs):
    with schema_context(org.slug):
        params = retrieval.SearchParams(query=query, collections=[collection], mode=mode, **kwargs)
        return retrieval.search(params, organization=org.organization)


@pytest.mark.django_db
class TestModes:
    @pytest.mark.parametrize("mode", list(retrieval.SearchMode))
    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("how do I get my money back", "Refunds"),
            ("forgot password reset link", "Passwords"),
            ("express delivery EU", "Shipping"),
        ],
    )
    def test_each_mode_finds_the_right_document(
        self, org_a, collection, corpus, mode, query, expected
    ):
        if mode == retrieval.SearchMode.KEYWORD and expected == "Refunds":
            query = "refund"  # keyword search needs a shared word; that is the point of hybrid
        hits = _search(org_a, collection, query, mode, top_k=3)
        assert hits and hits[0].document_title == expected
        top = hits[0]
        assert top.chunk_id and top.section and top.text and top.score > 0
        assert top.document_id == str(corpus[expected].id)

    def test_keyword_snippets_highlight_the_query_words(self, org_a, collection, corpus):
        [hit] = _search(org_a, collection, "warehouse", retrieval.SearchMode.KEYWORD, top_k=1)
        assert "<mark>warehouse</mark>" in hit.snippet

    def test_websearch_syntax_excludes_words(self, org_a, collection, corpus):
        hits = _search(
            org_a, collection, "delivery -express", retrieval.SearchMode.KEYWORD, top_k=5
        )
        assert hits == []  # the only delivery chunk mentions express

    def test_filter_by_document(self, org_a, collection, corpus):
        only = corpus["Shipping"].id
        hits = _search(
            org_a,
            collection,
            "password",
            retrieval.SearchMode.HYBRID,
            top_k=5,
            filters=retrieval.SearchFilters(documents=[only]),
        )
        assert {h.document_title for h in hits} == {"Shipping"}

    def test_top_k_is_bounded(self, org_a, collection, corpus):
        with pytest.raises(ValueError):
            _search(org_a, collection, "x", retrieval.SearchMode.VECTOR, top_k=101)

    def test_reciprocal_rank_fusion_rewards_agreement(self):
        def hit(i):
            return retrieval.Hit(i, "d", "t", "c", "x", None, "", 0.0)

        fused = retrieval.reciprocal_rank_fusion(
            [([hit(1), hit(2), hit(3)], 1.0), ([hit(3), hit(2), hit(4)], 1.0)], limit=3
        )
        assert [h.chunk_id for h in fused][:2] in ([2, 3], [3, 2])
        assert fused[0].vector_rank and fused[0].keyword_rank

    def test_fusion_by_document_adds_up_a_documents_ranks_from_different_chunks(self):
        # Document B is second in both lists, through two different chunks; X and Y are
        # first in one list each. By chunk, B's chunks never meet and X or Y wins; by
        # document (collapse=document), B is the one both lists agree on.
        def hit(chunk_id, document):
            return retrieval.Hit(chunk_id, document, document, "c", "x", None, "", 0.0)

        lists = lambda: [  # noqa: E731
            ([hit(1, "X"), hit(2, "B")], 1.0),
            ([hit(3, "Y"), hit(4, "B")], 1.0),
        ]
        by_chunk = retrieval.reciprocal_rank_fusion(lists(), limit=4)
        assert [h.chunk_id for h in by_chunk][:2] == [1, 3]
        by_document = retrieval.reciprocal_rank_fusion(lists(), limit=4, by_document=True)
        assert [h.document_id for h in by_document] == ["B", "X", "Y"]
        best = by_document[0]
        assert (best.chunk_id, best.vector_rank, best.keyword_rank) == (2, 2, 2)

    def test_fusion_by_document_keeps_the_chunk_of_the_list_it_ranked_best_in(self):
        def hit(chunk_id, document):
            return retrieval.Hit(chunk_id, document, document, "c", "x", None, "", 0.0)

        fused = retrieval.reciprocal_rank_fusion(
            [([hit(1, "X"), hit(2, "B")], 1.0), ([hit(4, "B"), hit(3, "Y")], 1.0)],
            limit=3,
            by_document=True,
        )
        assert (fused[0].document_id, fused[0].chunk_id) == ("B", 4)
        assert (fused[0].vector_rank, fused[0].keyword_rank) == (2, 1)


def _explain(sql: str, params: list, *, ordered: bool = False) -> str:
    with transaction.atomic(), connection.cursor() as cursor:
        # The corpus is tiny, so a sequential scan would be cheaper: forbid it to
        # prove the index matches the exact expression the search uses.
        cursor.execute("SET LOCAL enable_seqscan = off")
        if ordered:
            # Nor may the planner fetch the collection's few rows by the btree index
            # and sort them: the order must come from the vector index itself.
            cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.django_db
def test_vector_search_uses_the_hnsw_index(org_a, collection, corpus):
    with schema_context(org_a.slug):
        distance = vector_distance_sql(384)
        sql = (
            f"SELECT c.id FROM knowledge_base_documentchunk c WHERE c.embedding_dimensions = 384 "
            f"AND c.collection_id = %s ORDER BY {distance} LIMIT 5"
        )
        plan = _explain(sql, [str(collection.id), str([0.01] * 384)], ordered=True)
    assert "chunk_embedding_hnsw_384" in plan, plan


@pytest.mark.django_db
def test_keyword_search_uses_the_gin_index(org_a, collection, corpus):
    with schema_context(org_a.slug):
        sql = (
            "SELECT c.id FROM knowledge_base_documentchunk c "
            f"WHERE c.search_vector @@ websearch_to_tsquery('{TEXT_SEARCH_CONFIG}', %s)"
        )
        plan = _explain(sql, ["refund"])
    assert "chunk_search_vector_gin" in plan, plan


@pytest.mark.django_db
def test_another_organization_cannot_search_these_chunks(
    org_a, org_b, collection, corpus, client_for
):
    response = client_for(org_b, "admin").post(
        "/api/v1/search", {"query": "refund", "collections": [str(collection.id)]}, format="json"
    )
    assert response.status_code == 404
    assert "refund" not in response.content.decode().lower()


@pytest.mark.django_db
def test_keyword_ranking_weighs_rare_words_over_common_ones(org_a, collection):
    # given: "policy" is everywhere, "chargeback" in one chunk only
    for i in range(6):
        add_text(
            org_a,
            collection,
            f"Policy {i}",
            f"# Policy {i}\n\nThis policy policy policy covers topic {i}.",
        )
    add_text(
        org_a, collection, "Disputes", "# Disputes\n\nA chargeback is handled by the disputes team."
    )
    process_pending(org_a)

    # when: a plain question mentions both
    hits = _search(org_a, collection, "policy on chargeback", retrieval.SearchMode.KEYWORD, top_k=3)

    # then: BM25's inverse document frequency puts the rare word's chunk first
    assert hits[0].document_title == "Disputes"


@pytest.mark.django_db
def test_parent_child_hits_are_children_carrying_their_section(org_a):
    """ADR 0103: the children are ranked; each hit brings the section it was cut from, and
    two hits of one section name the same one. Sections themselves are never hits."""
    from knowledge_base import services
    from knowledge_base.models import DocumentChunk, DocumentSection
    from tests.factories import local_embedding_model

    with schema_context(org_a.slug):
        collection = services.collection_create(
            name="Manuals",
            embedding_model=local_embedding_model(),
            chunk_size=50,
            chunk_overlap=0,
            chunking="parent_child",
            parent_size=400,
        )
    steps = " ".join(f"Step {i}: tighten bolt {i} of the zyxpump housing." for i in range(25))
    add_text(org_a, collection, "Pump manual", f"# Assembly\n\n{steps}")
    process_pending(org_a)

    hits = _search(org_a, collection, "zyxpump housing", retrieval.SearchMode.HYBRID, top_k=20)

    with schema_context(org_a.slug):
        children = DocumentChunk.objects.filter(collection=collection).count()
        sections = dict(DocumentSection.objects.values_list("id", "content"))
    assert len(hits) == children > len(sections)  # every child once, no section among them
    assert {hit.parent.id for hit in hits} == set(sections)
    for hit in hits:
        assert hit.parent.text == sections[hit.parent.id]
        assert hit.parent.text[hit.parent.child_start : hit.parent.child_end] == hit.text
        assert hit.context_text == hit.parent.text


def test_hybrid_search_reads_the_text_of_the_hits_it_returns_only(org_a, collection, corpus):
    # given: a hybrid search ranks up to 40 candidates per list to return top_k
    from django.test.utils import CaptureQueriesContext

    with schema_context(org_a.slug), CaptureQueriesContext(connection) as statements:
        params = retrieval.SearchParams(
            query="refund delivery password", collections=[collection], top_k=1
        )
        [hit] = retrieval.search(params, organization=org_a.organization)
    # then: one statement reads chunk text, for the one hit returned, with its snippet
    reading = [s["sql"] for s in statements.captured_queries if "c.content" in s["sql"]]
    assert len(reading) == 1 and "ts_headline" in reading[0], reading
    assert hit.text and hit.document_title and hit.section and hit.snippet


@pytest.mark.django_db
@pytest.mark.parametrize("mode", list(retrieval.SearchMode))
def test_every_mode_shows_each_hit_as_stored(org_a, collection, corpus, mode):
    from knowledge_base.models import DocumentChunk

    hits = _search(org_a, collection, "refund delivery password", mode, top_k=5)
    assert hits
    with schema_context(org_a.slug):
        for hit in hits:
            chunk = DocumentChunk.objects.select_related("document").get(pk=hit.chunk_id)
            assert (hit.document_id, hit.collection_id) == (
                str(chunk.document_id),
                str(chunk.collection_id),
            )
            assert (hit.document_title, hit.text, hit.section, hit.page) == (
                chunk.document.title,
                chunk.content,
                chunk.section_title,
                chunk.page_number,
            )
            assert hit.snippet


@pytest.mark.django_db
def test_a_chunk_deleted_after_ranking_is_not_shown(org_a, collection, corpus):
    from knowledge_base.retrieval.hits import Hit
    from knowledge_base.retrieval.hydration import hydrate

    # given: a ranked candidate whose chunk is gone, between two that exist
    hits = _search(org_a, collection, "refund delivery password", "hybrid", top_k=2)
    ghost = Hit(
        chunk_id=10**12, document_id="", document_title="", collection_id="", text="",
        page=None, section="", score=1.0,
    )  # fmt: skip
    with schema_context(org_a.slug):
        shown = hydrate([hits[0], ghost, hits[1]], snippets_for="refund")
    # then: it is skipped, the others keep their order
    assert [h.chunk_id for h in shown] == [hits[0].chunk_id, hits[1].chunk_id]


@pytest.mark.django_db
def test_vector_search_sets_its_hnsw_settings_in_the_same_message(org_a, collection, corpus):
    from django.test.utils import CaptureQueriesContext

    with schema_context(org_a.slug), CaptureQueriesContext(connection) as statements:
        hits = retrieval.vector_search(
            embedding=[0.05] * 384,
            dimensions=384,
            collection_ids=[collection.id],
            limit=3,
            filters=retrieval.SearchFilters(),
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('hnsw.ef_search'), current_setting('hnsw.iterative_scan')"
            )
            settings_now = cursor.fetchone()
    # one round trip: the settings, then the search, which therefore ran with them
    sent = [s["sql"] for s in statements.captured_queries if "search_path" not in s["sql"]]
    assert "set_config('hnsw.ef_search'" in sent[0] and "ORDER BY" in sent[0], sent
    assert len(hits) == 3
    # inside a caller's transaction (the test's) they last until its end, as SET LOCAL
    assert settings_now == ("200", "relaxed_order")

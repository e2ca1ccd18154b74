"""Issue 19's retrieval defects, each pinned by what a user would notice.

1 websearch syntax only when written on purpose, ranking always BM25; 2 the minimum
score in every mode; 3 chunks fit the embedding model's window; 4 title and headings
are searchable; 5 BM25 candidates equal exact BM25; 6 per-collection language;
7 collapse by document and top_k 100; 8 PDF pages survive chunking.
"""

import math
import re
from collections import Counter

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from knowledge_base import retrieval, services
from knowledge_base.models import Collection, DocumentChunk
from knowledge_base.tests.test_extraction import make_pdf
from tests.factories import add_text, local_embedding_model, process_pending

KEYWORD = retrieval.SearchMode.KEYWORD
HYBRID = retrieval.SearchMode.HYBRID
VECTOR = retrieval.SearchMode.VECTOR


def _search(org, collections, query, mode, **kwargs):
    if not isinstance(collections, list):
        collections = [collections]
    with schema_context(org.slug):
        params = retrieval.SearchParams(query=query, collections=collections, mode=mode, **kwargs)
        return retrieval.search(params, organization=org.organization)


def _titles(hits):
    return [h.document_title for h in hits]


@pytest.mark.django_db
class TestWebsearchSyntax:
    @pytest.fixture
    def drinks(self, org_a, collection):
        add_text(org_a, collection, "Tea", "# Evenings\n\nDrinking tea late disturbs sleep.")
        add_text(org_a, collection, "Garden", "# Roses\n\nRoses need sun and water.")
        process_pending(org_a)

    def test_a_question_with_or_is_still_a_plain_question(self, org_a, collection, drinks):
        # "or" in a question is English, not an operator: no AND over the other words
        hits = _search(org_a, collection, "does coffee or tea affect sleep", KEYWORD, top_k=3)
        assert _titles(hits)[:1] == ["Tea"]

    def test_a_dash_inside_a_question_is_not_an_exclusion(self, org_a, collection, drinks):
        hits = _search(org_a, collection, "tea at -5 degrees and sleep", KEYWORD, top_k=3)
        assert _titles(hits)[:1] == ["Tea"]

    def test_explicit_syntax_filters_but_ranks_by_bm25(self, org_a, collection):
        for i in range(6):
            add_text(org_a, collection, f"P{i}", f"# P{i}\n\nThis policy policy policy covers {i}.")
        add_text(org_a, collection, "Disputes", "# D\n\nA chargeback goes to the disputes team.")
        process_pending(org_a)
        hits = _search(org_a, collection, '"policy" OR chargeback', KEYWORD, top_k=3)
        assert hits[0].document_title == "Disputes"  # IDF, not ts_rank_cd's repetition count
        excluded = _search(org_a, collection, "policy -covers", KEYWORD, top_k=10)
        assert excluded == []


@pytest.mark.django_db
class TestMinimumScore:
    @pytest.fixture
    def corpus(self, org_a, collection):
        add_text(org_a, collection, "Refunds", "# Refunds\n\nA refund reaches your card in days.")
        add_text(org_a, collection, "Garden", "# Roses\n\nRoses need sun and water to grow.")
        process_pending(org_a)

    @pytest.mark.parametrize("mode", list(retrieval.SearchMode))
    def test_applies_in_every_mode(self, org_a, collection, corpus, mode):
        assert _search(org_a, collection, "refund card", mode, top_k=5)
        assert _search(org_a, collection, "refund card", mode, top_k=5, min_score=0.99) == []

    def test_hybrid_keeps_only_hits_above_the_floor(self, org_a, collection, corpus):
        every = _search(org_a, collection, "refund card roses", VECTOR, top_k=5)
        floor = (every[0].score + every[-1].score) / 2
        kept = _search(org_a, collection, "refund card roses", HYBRID, top_k=5, min_score=floor)
        assert kept and {h.chunk_id for h in kept} == {
            h.chunk_id for h in every if h.score >= floor
        }


def _word_pieces():
    from tokenizers import Tokenizer

    from assistants.providers.local_embedder import TOKENIZER_DISTRIBUTION, TOKENIZER_FILE
    from assistants.providers.local_embedder import packaged_file as packaged

    tokenizer = Tokenizer.from_file(str(packaged(TOKENIZER_DISTRIBUTION, TOKENIZER_FILE)))
    tokenizer.no_truncation()
    return lambda text: len(tokenizer.encode(text, add_special_tokens=True).ids)


@pytest.mark.django_db
def test_default_chunks_fit_the_local_embedders_window(org_a):
    # the default chunk size (400) with the local model: nothing may be cut off
    with schema_context(org_a.slug):
        collection = services.collection_create(
            name="Defaults", embedding_model=local_embedding_model()
        )
    prose = " ".join(
        f"Sentence {i} explains the turbocharger's wastegate actuator calibration procedure."
        for i in range(400)
    )
    document = add_text(org_a, collection, "Turbine manual", f"# Calibration\n\n{prose}")
    process_pending(org_a)
    from knowledge_base.ingestion import embedding_input

    count = _word_pieces()
    with schema_context(org_a.slug):
        chunks = list(DocumentChunk.objects.filter(document=document))
    assert chunks
    for chunk in chunks:
        assert count(chunk.content) <= 256, count(chunk.content)
        embedded = embedding_input("Turbine manual", chunk.section_title, chunk.content)
        assert count(embedded) <= 256, count(embedded)


@pytest.mark.django_db
class TestTitleAndHeadings:
    def test_a_word_only_in_the_title_finds_the_document(self, org_a, collection):
        add_text(
            org_a,
            collection,
            "Zyxwquux turbine maintenance manual",
            "Check the oil level every week.",
        )
        add_text(org_a, collection, "Other", "Nothing about oil here, only water.")
        process_pending(org_a)
        for mode in (KEYWORD, HYBRID):
            hits = _search(org_a, collection, "zyxwquux", mode, top_k=3)
            assert _titles(hits)[:1] == ["Zyxwquux turbine maintenance manual"], mode

    def test_the_title_ranks_above_a_passing_mention(self, org_a, collection):
        add_text(org_a, collection, "Warranty", "Our terms last two years from the day of sale.")
        add_text(
            org_a, collection, "Shipping", "Parcels ship daily; see the warranty page for terms."
        )
        process_pending(org_a)
        hits = _search(org_a, collection, "warranty terms", KEYWORD, top_k=2)
        assert _titles(hits)[0] == "Warranty"

    def test_the_embedding_sees_the_title_and_heading(self, org_a, collection):
        from assistants.providers.local_embedder import get_local_embedder

        document = add_text(org_a, collection, "Pump guide", "# Priming\n\nOpen the valve first.")
        process_pending(org_a)
        with schema_context(org_a.slug):
            [chunk] = DocumentChunk.objects.filter(document=document)
            stored = list(chunk.embedding)
        embedder = get_local_embedder()
        with_header, bare = embedder.embed(
            ["Pump guide > Priming\n\nOpen the valve first.", "Open the valve first."]
        ).as_lists()

        def cosine(a, b):
            return sum(x * y for x, y in zip(a, b, strict=True))

        assert cosine(stored, with_header) > 0.999
        assert cosine(stored, bare) < 0.99


def _exact_bm25(org, collection, query: str, limit: int) -> list[int]:
    """Okapi BM25 over every chunk, from the chunks' own tsvectors (lexeme positions)."""
    with schema_context(org.slug), connection.cursor() as cursor:
        cursor.execute(
            "SELECT array(SELECT unnest(tsvector_to_array(to_tsvector('english', %s))))", [query]
        )
        words = set(cursor.fetchone()[0])
        cursor.execute(
            "SELECT c.id, u.lexeme, cardinality(u.positions) FROM knowledge_base_documentchunk c,"
            " unnest(c.search_vector) u WHERE c.collection_id = %s",
            [collection.id],
        )
        rows = cursor.fetchall()
    tf: dict[int, Counter] = {}
    for chunk_id, lexeme, count in rows:
        tf.setdefault(chunk_id, Counter())[lexeme] += count
    total = len(tf)
    mean = sum(sum(c.values()) for c in tf.values()) / total
    df = Counter(w for c in tf.values() for w in c if w in words)
    scores = {}
    for chunk_id, counts in tf.items():
        length = sum(counts.values())
        score = 0.0
        for word in words & set(counts):
            idf = math.log(1 + (total - df[word] + 0.5) / (df[word] + 0.5))
            f = counts[word]
            score += idf * f * 2.2 / (f + 1.2 * (0.25 + 0.75 * length / mean))
        if score:
            scores[chunk_id] = score
    return sorted(scores, key=lambda c: (-round(scores[c], 9), c))[:limit]


@pytest.mark.django_db
def test_keyword_candidates_equal_exact_bm25(org_a, collection):
    # "policy" is in most chunks: a chunk with only common words still ranks when it should
    for i in range(12):
        add_text(org_a, collection, f"Note {i}", f"The policy {'policy ' * i}covers item {i}.")
    add_text(org_a, collection, "Disputes", "A chargeback policy for the disputes team.")
    process_pending(org_a)
    query = "policy on chargeback"
    hits = _search(org_a, collection, query, KEYWORD, top_k=13)
    assert [h.chunk_id for h in hits] == _exact_bm25(org_a, collection, query, 13)


@pytest.mark.django_db
class TestLanguage:
    def test_simple_unaccented_collection_matches_without_accents(self, org_a, client_for):
        response = client_for(org_a, "member").post(
            "/api/v1/collections",
            {"name": "Recettes", "language": "french", "unaccent": True},
            format="json",
        )
        assert response.status_code == 201, response.json()
        assert response.json()["language"] == "french" and response.json()["unaccent"] is True
        with schema_context(org_a.slug):
            collection = Collection.objects.get(pk=response.json()["id"])
        add_text(org_a, collection, "Café", "Les élèves préparent un café à l'école.")
        process_pending(org_a)
        hits = _search(org_a, collection, "eleve ecole cafe", KEYWORD, top_k=3)
        assert _titles(hits) == ["Café"]

    def test_simple_keeps_every_word(self, org_a, client_for):
        response = client_for(org_a, "member").post(
            "/api/v1/collections", {"name": "Codes", "language": "simple"}, format="json"
        )
        with schema_context(org_a.slug):
            collection = Collection.objects.get(pk=response.json()["id"])
        add_text(org_a, collection, "Band", "The The is a band; running is not run.")
        process_pending(org_a)
        assert _titles(_search(org_a, collection, "the", KEYWORD, top_k=3)) == ["Band"]
        assert _search(org_a, collection, "runs", KEYWORD, top_k=3) == []  # no stemming

    def test_unknown_language_is_a_field_error(self, org_a, client_for):
        response = client_for(org_a, "member").post(
            "/api/v1/collections", {"name": "x", "language": "klingon"}, format="json"
        )
        assert response.status_code == 400
        assert "language" in response.json()["error"]["fields"]


@pytest.mark.django_db
class TestCollapseAndTopK:
    @pytest.fixture
    def long_documents(self, org_a, collection):
        body = "\n\n".join(
            f"Refund procedure, step {i}: the refund procedure asks for the receipt, and the "
            "refund is paid back to the card the refund procedure started from."
            for i in range(30)
        )
        add_text(org_a, collection, "Alpha", body)
        for name in ("Beta", "Gamma"):
            add_text(org_a, collection, name, f"{name} is about gardens; one refund rule applies.")
        process_pending(org_a)

    def test_collapse_returns_one_hit_per_document(
        self, org_a, collection, long_documents, client_for
    ):
        body = {"query": "refund procedure", "collections": [str(collection.id)], "top_k": 3}
        client = client_for(org_a, "member")
        chunks = client.post("/api/v1/search", body, format="json").json()["results"]
        assert len({h["document_id"] for h in chunks}) < 3  # several chunks of Alpha
        collapsed = client.post(
            "/api/v1/search", {**body, "collapse": "document"}, format="json"
        ).json()["results"]
        assert len(collapsed) == 3
        assert len({h["document_id"] for h in collapsed}) == 3

    def test_top_k_up_to_100(self, org_a, collection, long_documents, client_for):
        client = client_for(org_a, "member")
        body = {"query": "refund", "collections": [str(collection.id)], "mode": "keyword"}
        response = client.post("/api/v1/search", {**body, "top_k": 100}, format="json")
        assert response.status_code == 200, response.json()
        with schema_context(org_a.slug):
            every = DocumentChunk.objects.filter(collection=collection).count()
        assert len(response.json()["results"]) == every > 8
        too_many = client.post("/api/v1/search", {**body, "top_k": 101}, format="json")
        assert "top_k" in too_many.json()["error"]["fields"]


@pytest.mark.django_db
def test_pdf_chunks_keep_their_pages(org_a, collection):
    pages = [
        "Introduction to the pump. It moves water.",
        "Maintenance of the pump. Grease the bearings monthly.",
        "Disposal of the pump. Recycle the zyxcopper windings.",
    ]
    with schema_context(org_a.slug):
        services.documents_upload(
            collection=collection,
            uploads=[services.Upload("pump.pdf", make_pdf(pages, title="Pump"))],
            user=org_a.admin,
            max_bytes=10_000_000,
        )
    process_pending(org_a)
    with schema_context(org_a.slug):
        chunks = list(DocumentChunk.objects.filter(collection=collection).order_by("index"))
    assert [c.page_number for c in chunks] == [1, 2, 3]
    assert all(c.metadata["page_end"] == c.page_number for c in chunks)
    [hit] = _search(org_a, collection, "zyxcopper windings", KEYWORD, top_k=1)
    assert hit.page == 3 and re.search("zyxcopper", hit.text)

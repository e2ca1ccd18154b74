"""The keyword index's postings (ChunkTerm, ADR 0062): kept exact by every writer, and
keyword search from them equal to exact BM25 whatever the number of rounds."""

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from knowledge_base import retrieval, services
from knowledge_base.models import ChunkTerm, Collection, CollectionTerm, Document, DocumentStatus
from knowledge_base.retrieval import keyword, text_index
from knowledge_base.tests.test_retrieval_defects import _exact_bm25, _search
from tests.factories import add_text, process_pending

KEYWORD = retrieval.SearchMode.KEYWORD


def _index_state(collection) -> tuple[set, dict, tuple]:
    """(postings as (lexeme, chunk, frequency, length), document frequencies, totals)."""
    postings = {
        (p.term.lexeme, p.chunk_id, p.frequency, p.length)
        for p in ChunkTerm.objects.filter(term__collection=collection).select_related("term")
    }
    terms = dict(
        CollectionTerm.objects.filter(collection=collection).values_list("lexeme", "chunks")
    )
    collection.refresh_from_db()
    return postings, terms, (collection.text_chunks, collection.text_length)


def _rebuilt_state(collection) -> tuple[set, dict, tuple]:
    text_index.collection_reindex(collection.id)
    return _index_state(collection)


@pytest.mark.django_db
def test_postings_follow_adds_reprocessing_and_deletes(org_a, collection):
    for i in range(4):
        add_text(org_a, collection, f"Doc {i}", f"# Part {i}\n\nTurbine {i} needs oil " * (i + 1))
    process_pending(org_a)
    with schema_context(org_a.slug):
        incremental = _index_state(collection)
        assert incremental[0], "postings are written with the chunks"
        assert any(p[0] == "turbin" for p in incremental[0])
        assert incremental == _rebuilt_state(collection)

        first = Document.objects.get(title="Doc 0")
        services.document_reprocess(document=first)
    process_pending(org_a)
    with schema_context(org_a.slug):
        assert _index_state(collection) == _rebuilt_state(collection)
        services.document_delete(document=Document.objects.get(title="Doc 3"))
        after_delete = _index_state(collection)
        assert after_delete == _rebuilt_state(collection)
        assert not any(p[0] == "3" for p in after_delete[0])


@pytest.mark.django_db
def test_collection_delete_removes_its_postings(org_a, collection):
    add_text(org_a, collection, "Manual", "# Pumps\n\nThe pump needs oil.")
    process_pending(org_a)
    with schema_context(org_a.slug):
        assert ChunkTerm.objects.exists()
        services.collection_delete(collection=Collection.objects.get(pk=collection.pk))
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM knowledge_base_chunkterm")
            assert cursor.fetchone()[0] == 0


@pytest.mark.django_db
def test_chunks_of_a_document_being_reprocessed_are_not_returned(org_a, collection):
    add_text(org_a, collection, "Pumps", "# Pumps\n\nThe zyxwquux pump needs oil.")
    add_text(org_a, collection, "Valves", "# Valves\n\nThe zyxwquux valve needs grease.")
    process_pending(org_a)
    with schema_context(org_a.slug):
        valves = Document.objects.get(title="Valves")
        Document.objects.filter(pk=valves.pk).update(status=DocumentStatus.PROCESSING)
    hits = _search(org_a, collection, "zyxwquux", KEYWORD, top_k=5)
    assert [h.document_title for h in hits] == ["Pumps"]


@pytest.mark.django_db
@pytest.mark.parametrize("first_round", [1, 3, 2_000])
def test_postings_ranking_equals_exact_bm25_in_any_number_of_rounds(
    org_a, collection, monkeypatch, first_round
):
    # A first round of 1 posting makes every later word a round of its own: the
    # max-score stop must still leave the ranking exactly BM25's.
    monkeypatch.setattr(keyword, "FIRST_ROUND_POSTINGS", first_round)
    words = ["pump", "valve", "seal", "oil", "grease", "filter", "gasket"]
    for i in range(24):
        body = " ".join(words[j % len(words)] for j in range(i, i + 3 + i % 5))
        add_text(org_a, collection, f"Note {i}", f"Maintenance note: {body} and a rotor.")
    process_pending(org_a)
    for query, limit in [("pump seal gasket", 5), ("oil filter rotor", 10), ("valve", 3)]:
        hits = _search(org_a, collection, query, KEYWORD, top_k=limit)
        assert [h.chunk_id for h in hits] == _exact_bm25(org_a, collection, query, limit)


@pytest.mark.django_db
@pytest.mark.parametrize("first_round", [1, 10, 2_000])
def test_pruned_rounds_still_rank_exactly_as_bm25_at_any_depth(
    org_a, collection, monkeypatch, first_round
):
    # Rounds drop the chunks that can no longer reach the top (ADR 0102): with words of
    # every frequency (Zipf-like) and shallow and deep lists (hybrid asks for 40), the
    # ranking must still be exact BM25's, ties included.
    import random

    monkeypatch.setattr(keyword, "FIRST_ROUND_POSTINGS", first_round)
    rng = random.Random(19)
    vocabulary = ["pump", "valve", "seal", "oil", "grease", "filter", "gasket", "rotor"]
    vocabulary += ["bearing", "shaft", "impeller", "coupling"]
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]
    for i in range(45):
        body = " ".join(rng.choices(vocabulary, weights, k=rng.randint(3, 24)))
        add_text(org_a, collection, f"Log {i}", f"Entry {i}: {body}.")
    process_pending(org_a)
    for query in ["pump coupling impeller", "seal shaft bearing oil", "gasket", "rotor pump"]:
        for limit in (5, 20, 40):
            hits = _search(org_a, collection, query, KEYWORD, top_k=limit)
            expected = _exact_bm25(org_a, collection, query, limit)
            assert [h.chunk_id for h in hits] == expected, (query, limit)

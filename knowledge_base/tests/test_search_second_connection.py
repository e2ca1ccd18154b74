"""Hybrid search's vector half on a second connection (ADR 0114): the same hits as one
half after the other, failures of either half raised to the caller, and never used
inside the caller's transaction.

The second connection sees committed rows only, so these tests commit their collection
(outside the suite's rolled-back test transaction) and delete it afterwards."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from billing.models import UsageKind, UsageRecord
from knowledge_base import retrieval, services
from knowledge_base.models import Collection
from knowledge_base.retrieval import keyword, second_connection, vector
from knowledge_base.retrieval.vector import query_embedding_cache
from tests.factories import add_text, local_embedding_model, process_pending

HYBRID = retrieval.SearchMode.HYBRID
STEPS = " ".join(f"Step {i}: tighten bolt {i} of the pump housing with oil." for i in range(20))
CORPUS = {
    "Refunds": "# Refund policy\n\nCustomers may return a product within 30 days for a full "
    "refund. The money goes back to the original payment card within five business days.",
    "Passwords": "# Account security\n\nTo reset your password, open Settings, choose Security "
    "and click 'Forgot password'. A reset link is e-mailed to you and expires after one hour.",
    "Shipping": "# Delivery\n\nParcels leave the Lyon warehouse every weekday. Express delivery "
    "inside the European Union takes two days; standard delivery takes five.",
    "Pumps": "# Pump care\n\nThe pump needs oil every week; a dry pump seizes. Check the seal "
    "and the housing for leaks before each refill.",
}
QUERIES = [
    "how do I get my money back",
    "pump oil housing",
    "forgot password reset link",
    "express delivery within the EU",
]


def _visible(hits) -> list[tuple]:
    """Everything a caller sees of each hit (bench/search_ab.py's comparison)."""
    return [
        (
            h.chunk_id,
            h.document_id,
            h.collection_id,
            h.score,
            h.similarity,
            h.vector_rank,
            h.keyword_rank,
            h.document_title,
            h.text,
            h.page,
            h.page_end,
            h.section,
            h.snippet,
            h.parent,
        )
        for h in hits
    ]


@pytest.fixture
def committed(organizations, django_db_blocker, monkeypatch):
    """Two committed collections of alpha (flat, parent-child) with their documents
    processed here (no task is queued), removed afterwards with their usage rows and
    audit events."""
    org = organizations["alpha"]
    monkeypatch.setattr(services, "document_enqueue", lambda document: None)
    query_embedding_cache.clear()
    with django_db_blocker.unblock():
        started = timezone.now()
        with schema_context(org.slug):
            flat = services.collection_create(
                name="Second connection",
                embedding_model=local_embedding_model(),
                chunk_size=120,
                chunk_overlap=20,
            )
            sections = services.collection_create(
                name="Second connection, sections",
                embedding_model=local_embedding_model(),
                chunk_size=50,
                chunk_overlap=0,
                chunking="parent_child",
                parent_size=400,
            )
        for title, text in CORPUS.items():
            add_text(org, flat, title, text)
        add_text(org, sections, "Pump manual", f"# Assembly\n\n{STEPS}")
        process_pending(org)
        yield org, [flat, sections]
        query_embedding_cache.clear()
        second_connection.close_connections()
        with schema_context(org.slug):
            for collection in Collection.objects.filter(pk__in=[flat.pk, sections.pk]):
                services.collection_delete(collection=collection)
            AuditEvent.objects.filter(created_at__gte=started).delete()
        UsageRecord.objects.filter(organization=org.organization, created_at__gte=started).delete()


def _search(org, collections, query, **kwargs):
    with schema_context(org.slug):
        params = retrieval.SearchParams(
            query=query, collections=collections, mode=HYBRID, top_k=6, **kwargs
        )
        return retrieval.search(params, organization=org.organization, user=org.admin)


def _embeddings(org) -> int:
    return UsageRecord.objects.filter(
        organization=org.organization, kind=UsageKind.EMBEDDING
    ).count()


def _caller_ran_vector_search(statements) -> bool:
    return any("hnsw.ef_search" in s["sql"] for s in statements.captured_queries)


def test_halves_on_two_connections_give_the_same_hits_as_one_after_the_other(
    committed, django_db_blocker, settings
):
    org, collections = committed
    with django_db_blocker.unblock():
        for query in QUERIES:
            for collapse in (False, True):
                settings.KNOWLEDGE_SEARCH_SECOND_CONNECTION = True
                with CaptureQueriesContext(connection) as statements:
                    beside = _search(org, collections, query, collapse=collapse)
                assert not _caller_ran_vector_search(statements)  # it ran on the other one

                settings.KNOWLEDGE_SEARCH_SECOND_CONNECTION = False
                with CaptureQueriesContext(connection) as statements:
                    after = _search(org, collections, query, collapse=collapse)
                assert _caller_ran_vector_search(statements)

                assert beside and _visible(beside) == _visible(after), (query, collapse)
                assert all(h.vector_rank or h.keyword_rank for h in beside)
        # the parent-child collection's hits carry their sections
        assert any(h.parent is not None for h in _search(org, collections, "tighten bolt"))


def test_a_failing_vector_half_is_raised_and_the_embedding_still_recorded(
    committed, django_db_blocker, monkeypatch
):
    org, collections = committed
    with django_db_blocker.unblock():
        before = _embeddings(org)
        # given: the vector half's statement fails in PostgreSQL (a column that is not there)
        real = vector.vector_distance_sql
        monkeypatch.setattr(
            vector, "vector_distance_sql", lambda dimensions: "(c.no_such_column <=> %s)"
        )
        # then: the search fails with the database's error, on the caller's thread
        with pytest.raises(DatabaseError, match="no_such_column"):
            _search(org, collections, "a question asked once: pump oil")
        assert _embeddings(org) == before + 1  # the embedding was made: it is billed

        # and the next search works (the failed connection was not reused)
        monkeypatch.setattr(vector, "vector_distance_sql", real)
        hits = _search(org, collections, "a question asked once: pump oil")
        assert hits and any(h.vector_rank for h in hits)


def test_a_failing_keyword_half_is_raised_after_the_vector_half_ended(
    committed, django_db_blocker, monkeypatch
):
    org, collections = committed
    with django_db_blocker.unblock():
        before = _embeddings(org)
        # given: the keyword half's first statement fails in PostgreSQL
        real = keyword._STATISTICS_SQL
        monkeypatch.setattr(keyword, "_STATISTICS_SQL", "SELECT no_such_column, %s, %s, %s")
        # then: its error is raised, once the vector half is done, and the embedding billed
        with pytest.raises(DatabaseError, match="no_such_column"):
            _search(org, collections, "another question: refund card")
        assert _embeddings(org) == before + 1
        monkeypatch.setattr(keyword, "_STATISTICS_SQL", real)
        assert _search(org, collections, "another question: refund card")


def test_a_kept_connection_the_server_dropped_is_replaced(
    committed, django_db_blocker, monkeypatch
):
    org, collections = committed
    with django_db_blocker.unblock():
        # given: one helper thread, whose kept connection the server then ends
        second_connection.close_connections()
        monkeypatch.setattr(second_connection, "THREADS", 1)
        with schema_context(org.slug):
            pid = second_connection.submit(_backend_pid).result()
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        # when: the next search's vector half finds it gone
        hits = _search(org, collections, "pump oil housing")
        # then: it ran on a new connection
        assert hits and any(h.vector_rank for h in hits)
        with schema_context(org.slug):
            assert second_connection.submit(_backend_pid).result() != pid


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_inside_a_transaction_both_halves_run_on_its_connection(org_a, collection):
    # given: rows the transaction has not committed (a second connection cannot see them)
    add_text(org_a, collection, "Pumps", CORPUS["Pumps"])
    process_pending(org_a)
    assert connection.in_atomic_block
    with CaptureQueriesContext(connection) as statements:
        hits = _search(org_a, [collection], "pump oil")
    assert _caller_ran_vector_search(statements)
    assert any(h.vector_rank for h in hits) and any(h.keyword_rank for h in hits)


def test_a_search_in_an_explicit_transaction_keeps_to_it(committed, django_db_blocker):
    org, collections = committed
    with django_db_blocker.unblock(), transaction.atomic():
        with CaptureQueriesContext(connection) as statements:
            assert _search(org, collections, "pump oil")
        assert _caller_ran_vector_search(statements)

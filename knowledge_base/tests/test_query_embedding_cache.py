"""The query-embedding cache (issue 19): a repeated search query is embedded (and billed)
once per organization and embedding model, and a cached vector never serves another
organization or another model."""

import pytest
from django_tenants.utils import schema_context

from assistants.catalog.models import AIModel
from billing.models import UsageKind, UsageRecord
from knowledge_base import retrieval, services
from knowledge_base.retrieval.vector import query_embedding_cache
from tests.factories import add_text, local_embedding_model, process_pending

HYBRID = retrieval.SearchMode.HYBRID
QUERY = "how often does the turbine need oil"


@pytest.fixture(autouse=True)
def empty_cache():
    query_embedding_cache.clear()
    yield
    query_embedding_cache.clear()


def _embeddings(org) -> int:
    return UsageRecord.objects.filter(
        organization=org.organization, kind=UsageKind.EMBEDDING
    ).count()


def _search(org, collections, query=QUERY):
    with schema_context(org.slug):
        params = retrieval.SearchParams(query=query, collections=collections, mode=HYBRID)
        return retrieval.search(params, organization=org.organization, user=org.admin)


def _handbook(org, name="Handbook", model=None):
    with schema_context(org.slug):
        collection = services.collection_create(
            name=name, embedding_model=model or local_embedding_model(), user=org.admin
        )
    add_text(org, collection, "Turbines", "# Care\n\nThe turbine needs oil every week.")
    process_pending(org)
    return collection


@pytest.mark.django_db
def test_a_repeated_query_is_embedded_and_billed_once(org_a):
    collection = _handbook(org_a)
    before = _embeddings(org_a)

    first = _search(org_a, [collection])
    second = _search(org_a, [collection])
    other = _search(org_a, [collection], query="turbine oil schedule")

    assert _embeddings(org_a) == before + 2  # QUERY once, the other query once
    assert [h.chunk_id for h in first] == [h.chunk_id for h in second]
    assert first[0].similarity == second[0].similarity
    assert other


@pytest.mark.django_db
def test_the_cache_never_serves_another_organization(org_a, org_b):
    mine, theirs = _handbook(org_a), _handbook(org_b)
    _search(org_a, [mine])
    before = _embeddings(org_b)

    _search(org_b, [theirs])

    # org_b's search embedded (and billed org_b) although org_a asked the same question
    assert _embeddings(org_b) == before + 1


@pytest.mark.django_db
def test_the_cache_never_serves_another_model(org_a, provider_server):
    with schema_context(org_a.slug):
        from assistants import services as assistant_services

        assistant_services.credential_create(
            provider="openai", api_key="sk-test-good-key-1234", base_url=f"{provider_server.url}/v1"
        )
    remote_model = AIModel.objects.get(model_id="text-embedding-3-small")
    with schema_context(org_a.slug):  # before any chunk: its vector index is created now
        remote = services.collection_create(name="Remote", embedding_model=remote_model)
    local = _handbook(org_a)
    _search(org_a, [local])
    with schema_context(org_a.slug):
        vectors = retrieval.embed_query(QUERY, [local], org_a.organization, org_a.admin)
        provider_server.reset()

        both = retrieval.embed_query(QUERY, [local, remote], org_a.organization, org_a.admin)

    # the remote model was asked (its vector is its own), the local one came from the cache
    embedded = [r for r in provider_server.requests if r.path.endswith("/embeddings")]
    assert len(embedded) == 1 and embedded[0].body["input"] in (QUERY, [QUERY])
    local_model = local_embedding_model()
    assert both[local_model.pk] == vectors[local_model.pk]
    assert len(both[remote_model.pk]) != len(vectors[local_model.pk])


@pytest.mark.django_db
def test_a_query_embedded_beside_a_failed_keyword_search_is_still_billed(org_a, monkeypatch):
    # given: a hybrid search embeds its query in a helper thread while the keyword half
    # runs (ADR 0104), and the keyword half fails
    from knowledge_base.retrieval import hybrid

    collection = _handbook(org_a)
    before = _embeddings(org_a)

    def failing(params):
        raise RuntimeError("the keyword search failed")

    monkeypatch.setattr(hybrid, "_keyword_candidates", failing)

    # when
    with pytest.raises(RuntimeError, match="keyword search failed"):
        _search(org_a, [collection])

    # then: the embedding was made, so it is in the ledger (once, in this transaction)
    assert _embeddings(org_a) == before + 1

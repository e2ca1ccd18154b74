"""Reads of assistants and credentials (organization schema)."""

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Prefetch, Q, QuerySet

from assistants.models import Assistant, ProviderCredential, Reranker
from core.lookups import parse_uuid
from core.tenancy import require_tenant_schema


def assistant_list(
    *, is_active: bool | None = None, search: str = "", only_ids: list | None = None
) -> QuerySet[Assistant]:
    """``only_ids``: the assistants an API key is restricted to (None: all)."""
    require_tenant_schema()
    assistants = Assistant.objects.select_related(
        "model", "fallback_model", "reranker"
    ).prefetch_related(_collections_with_models())
    if only_ids is not None:
        assistants = assistants.filter(id__in=only_ids)
    if is_active is not None:
        assistants = assistants.filter(is_active=is_active)
    if search:
        assistants = assistants.filter(Q(name__icontains=search) | Q(description__icontains=search))
    return assistants


def _collections_with_models() -> Prefetch:
    """The assistants' collections with each one's embedding model, in the one statement
    that reads the collections: a chat turn's retrieval embeds the question with that
    model, and reading it collection by collection would be another round trip before
    the first token. (The collection model is named through the field: knowledge_base
    is a layer above this one.)"""
    collection = Assistant._meta.get_field("collections").related_model
    return Prefetch("collections", queryset=collection.objects.select_related("embedding_model"))


def assistant_get(*, assistant_id, only_ids: list | None = None) -> Assistant:
    return assistant_list(only_ids=only_ids).get(id=parse_uuid(assistant_id))


def credential_list() -> QuerySet[ProviderCredential]:
    require_tenant_schema()
    return ProviderCredential.objects.all()


def credential_get(*, credential_id) -> ProviderCredential:
    return credential_list().get(id=parse_uuid(credential_id))


def reranker_list() -> QuerySet[Reranker]:
    require_tenant_schema()
    return Reranker.objects.all()


def reranker_get(*, reranker_id) -> Reranker:
    return reranker_list().get(id=parse_uuid(reranker_id))


def reranker_default() -> Reranker | None:
    """The organization's reranker when it has exactly one (a search asking for
    reranking without naming one uses it); None otherwise."""
    found = list(reranker_list()[:2])
    return found[0] if len(found) == 1 else None


def assistant_names(ids) -> dict[str, str]:
    """{id: name} of the assistants ``ids`` (labels of usage reports)."""
    return {
        str(pk): name for pk, name in Assistant.objects.filter(id__in=ids).values_list("id", "name")
    }


def assistant_collections_by_ids(*, ids) -> list:
    """The knowledge collections ``ids`` name, all of them or DoesNotExist.

    Reached through the assistant's relation: the collections are knowledge_base's,
    which builds on assistants (embeddings, the model catalog), so this app reads
    them through the ORM relation instead of importing that app.
    """
    require_tenant_schema()
    collection_model = Assistant.collections.field.related_model
    wanted = {parse_uuid(i) for i in ids}
    found = list(collection_model.objects.filter(id__in=wanted))
    if len(found) != len(wanted):
        raise ObjectDoesNotExist("Unknown collection.")
    return found

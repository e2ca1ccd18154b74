"""Knowledge-base fixtures: collections with the real local embedder, and a way to run
the ingestion pipeline in-process on what the API queued."""

import pytest
from django_tenants.utils import schema_context

from assistants.catalog.models import AIModel
from core.tenancy import current_organization
from knowledge_base import ingestion, services
from knowledge_base.models import Document, DocumentStatus


def local_embedding_model() -> AIModel:
    return AIModel.objects.get(provider="local", model_id="all-minilm-l6-v2")


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Stored files go to a per-test folder, so tests can see what is left behind."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture
def collection(org_a):
    with schema_context(org_a.slug):
        return services.collection_create(
            name="Handbook", embedding_model=local_embedding_model(), chunk_size=120, chunk_overlap=20,
            user=org_a.admin,
        )  # fmt: skip


def process_pending(org) -> list[ingestion.IngestionResult]:
    """Do what a worker does with the queued documents (in this test's transaction)."""
    with schema_context(org.slug):
        results = []
        for document in Document.objects.filter(status=DocumentStatus.PENDING).order_by(
            "created_at"
        ):
            results.append(
                ingestion.document_process(
                    document_id=document.id,
                    version=document.version,
                    organization=current_organization(),
                )
            )
        return results


def add_text(org, collection, title: str, text: str) -> Document:
    with schema_context(org.slug):
        outcome = services.document_create_text(collection=collection, title=title, text=text)
        return outcome.document

"""The demo organization's knowledge: a small handbook (infra/demo/*.md), ingested at
once through the real pipeline and linked to the Help Center assistant."""

from pathlib import Path

from django.conf import settings

from assistants.catalog.models import AIModel
from assistants.models import Assistant
from core.tenancy import current_organization
from knowledge_base import ingestion, services
from knowledge_base.models import Collection, Document, DocumentStatus

DEMO_DIR = Path(settings.BASE_DIR) / "infra" / "demo"
COLLECTION_NAME = "Acme handbook"


def knowledge_demo_seed(*, user=None) -> int:
    """Create (once) the demo collection and its documents; returns how many it holds."""
    collection = Collection.objects.filter(name=COLLECTION_NAME).first()
    if collection is None:
        collection = services.collection_create(
            name=COLLECTION_NAME,
            description="Demo documents: getting started, billing, security.",
            embedding_model=AIModel.objects.get(provider="local", model_id="all-minilm-l6-v2"),
            user=user,
        )
        uploads = [services.Upload(p.name, p.read_bytes()) for p in sorted(DEMO_DIR.glob("*.md"))]
        services.documents_upload(
            collection=collection, uploads=uploads, user=user, max_bytes=10**6
        )
    organization = current_organization()
    # Processed here rather than by the worker, so the demo answers the moment it starts.
    for document in Document.objects.filter(collection=collection).exclude(
        status=DocumentStatus.COMPLETED
    ):
        ingestion.document_process(
            document_id=document.id, version=document.version, organization=organization
        )
    for assistant in Assistant.objects.filter(model__is_extractive=True):
        assistant.collections.add(collection)
    return Document.objects.filter(collection=collection).count()

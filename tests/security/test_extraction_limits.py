"""Extraction can't be a denial of service (issue 12, item 2).

Real bombs, built by the tests (small on disk), uploaded through the service the API uses
and processed by a real Celery worker on the real broker: each ends `failed` with a reason
the user can act on, the worker goes on to complete the next document, deleting or
reprocessing a document kills its running parse, and one organization's uploads do not
hold every worker. The worker has its own database connection, so these tests commit their
data and remove it afterwards.

On main before this change the paragraphs bomb kept a worker busy for 25+ minutes at
~870 MB and deletion did not stop it; the waits below (generous, not speed assertions)
are what make such a run fail instead of hanging the suite.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from itertools import pairwise

import psutil
import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from billing.models import UsageRecord
from knowledge_base import services
from knowledge_base.ingestion_slots import ingestion_slots_held
from knowledge_base.models import Collection, Document, DocumentChunk, DocumentStatus
from tests.factories import local_embedding_model
from tests.security import bombs

# Generous: every bomb is refused in seconds; main needed 25+ minutes for one of them.
SETTLE_SECONDS = 120
DONE = (DocumentStatus.COMPLETED, DocumentStatus.FAILED)

BOMBS: dict[str, tuple[Callable[[], tuple[str, bytes]], str]] = {
    "docx-40MB-of-paragraphs": (
        bombs.docx_tiny_paragraphs,
        "The document has more than 100,000 paragraphs (limit 100,000).",
    ),
    "docx-zip-bomb-1GB": (
        bombs.docx_zip_bomb,
        "The Word document unpacks to more than 200 MB (limit 200 MB).",
    ),
    "docx-billion-laughs": (bombs.docx_billion_laughs, "document type declaration (DTD)"),
    "pdf-131072-pages": (
        bombs.pdf_many_pages,
        "The document has more than 5,000 pages (limit 5,000).",
    ),
    "pdf-131072-pages-claiming-one": (
        lambda: bombs.pdf_many_pages(honest_count=False),
        "The document has more than 5,000 pages (limit 5,000).",
    ),
    "csv-million-columns": (
        bombs.csv_many_columns,
        "The document has more than 1,000 columns (limit 1,000).",
    ),
}


def _wait_for(predicate, timeout: float = SETTLE_SECONDS) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def _is_sandbox(process: psutil.Process) -> bool:
    return "knowledge_base.extraction.sandbox" in " ".join(process.cmdline())


def _sandbox_children() -> list[psutil.Process]:
    """Parse processes started for this process (the test worker runs in its threads):
    a fork server's children (the server, which waits for work, is not one)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if _is_sandbox(child) and (
                "--fork-server" not in child.cmdline() or _is_sandbox(child.parent())
            ):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


class Committed:
    """Collections made for the worker to see, removed at the end with their documents."""

    def __init__(self, organizations, django_db_blocker) -> None:
        self.organizations = organizations
        self.blocker = django_db_blocker
        self.started = timezone.now()
        self.made: list[tuple[str, Collection]] = []

    def collection(self, org_name: str = "alpha") -> Collection:
        org = self.organizations[org_name]
        with self.blocker.unblock(), schema_context(org.slug):
            collection = services.collection_create(
                name=f"Bombs {len(self.made)}",
                embedding_model=local_embedding_model(),
                chunk_size=80,
                chunk_overlap=10,
            )
        self.made.append((org.slug, collection))
        return collection

    def upload(self, org_name: str, collection: Collection, name: str, data: bytes) -> Document:
        org = self.organizations[org_name]
        with self.blocker.unblock(), schema_context(org.slug):
            [outcome] = services.documents_upload(
                collection=collection,
                uploads=[services.Upload(name, data)],
                max_bytes=50 * 1024 * 1024,
            )
        return outcome.document

    def document(self, org_name: str, pk) -> Document | None:
        with self.blocker.unblock(), schema_context(self.organizations[org_name].slug):
            return Document.objects.filter(pk=pk).first()

    def settled(self, org_name: str, pk) -> Document:
        assert _wait_for(lambda: self.document(org_name, pk).status in DONE), (
            f"document still {self.document(org_name, pk).status} after {SETTLE_SECONDS} s"
        )
        return self.document(org_name, pk)

    def cleanup(self) -> None:
        with self.blocker.unblock():
            for slug, collection in self.made:
                with schema_context(slug):
                    collection_delete = services.collection_delete
                    fresh = Collection.objects.filter(pk=collection.pk).first()
                    if fresh is not None:
                        collection_delete(collection=fresh)
            for org in self.organizations.values():
                UsageRecord.objects.filter(
                    organization=org.organization, created_at__gte=self.started
                ).delete()


@pytest.fixture
def committed(organizations, django_db_blocker, celery_worker, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.KNOWLEDGE_INGESTION_REQUEUE_SECONDS = 1
    helper = Committed(organizations, django_db_blocker)
    yield helper
    helper.cleanup()
    # Nothing of ours keeps parsing after a test (a leaked child would keep its CPU).
    assert _wait_for(lambda: not _sandbox_children(), timeout=30)


@pytest.mark.parametrize("bomb", list(BOMBS))
def test_a_bomb_fails_with_its_reason_and_the_worker_completes_the_next_document(committed, bomb):
    build, reason = BOMBS[bomb]
    name, data = build()
    assert len(data) < 11 * 1024 * 1024  # small on disk: the damage is in the parsing
    collection = committed.collection()

    # when: the bomb is uploaded like any document
    document = committed.upload("alpha", collection, name, data)

    # then: it ends failed with the reason, and nothing was indexed
    settled = committed.settled("alpha", document.pk)
    assert settled.status == DocumentStatus.FAILED
    assert reason in settled.error
    with committed.blocker.unblock(), schema_context("alpha"):
        assert not DocumentChunk.objects.filter(document_id=document.pk).exists()

    # and the same worker processes the next upload normally
    honest = committed.upload(
        "alpha", collection, "after.md", b"# After\n\n" + b"An honest paragraph. " * 60
    )
    assert committed.settled("alpha", honest.pk).status == DocumentStatus.COMPLETED


def test_parsing_is_held_to_its_cpu_time(committed, settings):
    # given: element limits out of the way, so only the kernel's CPU limit can stop it
    settings.KNOWLEDGE_EXTRACTION_MAX_PARAGRAPHS = 10**8
    settings.KNOWLEDGE_EXTRACTION_MAX_COMPRESSION_RATIO = 10**6
    settings.KNOWLEDGE_EXTRACTION_CPU_SECONDS = 2
    name, data = bombs.docx_tiny_paragraphs()

    document = committed.upload("alpha", committed.collection(), name, data)

    settled = committed.settled("alpha", document.pk)
    assert settled.status == DocumentStatus.FAILED
    assert settled.error == (
        "Reading the document took more than 2 seconds of CPU time (limit 2 s)."
    )


def test_parsing_is_held_to_its_memory(committed, settings):
    # given: the column limit out of the way, so only the kernel's memory limit can stop
    # the million-column CSV (each cell becomes a "column N: x" string)
    settings.KNOWLEDGE_EXTRACTION_MAX_COLUMNS = 10**8
    settings.KNOWLEDGE_EXTRACTION_MEMORY_MB = 160
    name, data = bombs.csv_many_columns()

    document = committed.upload("alpha", committed.collection(), name, data)

    settled = committed.settled("alpha", document.pk)
    assert settled.status == DocumentStatus.FAILED
    assert settled.error == (
        "Reading the document needed more than 160 MB of memory (limit 160 MB)."
    )


@pytest.fixture
def slow_parse(settings):
    """A document whose parse runs for minutes: the paragraphs bomb with its limits lifted."""
    settings.KNOWLEDGE_EXTRACTION_MAX_PARAGRAPHS = 10**8
    settings.KNOWLEDGE_EXTRACTION_MAX_COMPRESSION_RATIO = 10**6
    settings.KNOWLEDGE_EXTRACTION_CPU_SECONDS = 600
    return bombs.docx_tiny_paragraphs()


def test_deleting_a_document_kills_its_running_parse(committed, slow_parse):
    name, data = slow_parse
    collection = committed.collection()
    document = committed.upload("alpha", collection, name, data)
    assert _wait_for(lambda: _sandbox_children(), timeout=60), "the parse never started"
    [child] = _sandbox_children()

    # when: the user deletes it mid-parse
    with committed.blocker.unblock(), schema_context("alpha"):
        services.document_delete(document=Document.objects.get(pk=document.pk))

    # then: the parse process is killed, the run lets go of its slot, nothing is written
    assert _wait_for(lambda: not child.is_running(), timeout=30)
    organization_id = committed.organizations["alpha"].organization.pk
    assert _wait_for(lambda: ingestion_slots_held(organization_id=organization_id) == 0, 30)
    with committed.blocker.unblock(), schema_context("alpha"):
        assert not DocumentChunk.objects.filter(document_id=document.pk).exists()
        assert not Document.objects.filter(pk=document.pk).exists()


def test_reprocessing_a_document_kills_the_parse_of_its_old_version(committed, slow_parse):
    name, data = slow_parse
    collection = committed.collection()
    document = committed.upload("alpha", collection, name, data)
    assert _wait_for(lambda: _sandbox_children(), timeout=60), "the parse never started"
    [old] = _sandbox_children()

    with committed.blocker.unblock(), schema_context("alpha"):
        services.document_reprocess(document=Document.objects.get(pk=document.pk))

    # the old version's parse is killed; the new version's run starts its own
    assert _wait_for(lambda: not old.is_running(), timeout=30)
    assert _wait_for(lambda: [c for c in _sandbox_children() if c.pid != old.pid], 60)
    current = committed.document("alpha", document.pk)
    assert current.version == 2 and current.status == DocumentStatus.PROCESSING
    # (cleanup deletes it, which stops the new run too)


def test_one_organization_cannot_hold_every_worker(committed):
    """Alpha queues three documents before beta queues one; with two worker threads,
    beta's is done while alpha's are still waiting, and alpha never runs two at once."""
    alpha, beta = committed.collection("alpha"), committed.collection("beta")
    long_text = "".join(f"Paragraph {n} about the handbook. " * 8 + "\n\n" for n in range(30))
    alpha_documents = [
        committed.upload("alpha", alpha, f"alpha-{n}.md", f"# A{n}\n\n{long_text}".encode())
        for n in range(3)
    ]
    beta_document = committed.upload("beta", beta, "beta.md", b"# Beta\n\nA short note.")

    assert committed.settled("beta", beta_document.pk).status == DocumentStatus.COMPLETED
    alpha_states = [committed.document("alpha", d.pk).status for d in alpha_documents]
    assert any(state not in DONE for state in alpha_states), alpha_states

    finished = [committed.settled("alpha", d.pk) for d in alpha_documents]
    assert all(d.status == DocumentStatus.COMPLETED for d in finished)
    runs = sorted((d.processing_started_at, d.processed_at) for d in finished)
    for (_, previous_end), (next_start, _) in pairwise(runs):
        assert next_start >= previous_end, "two of alpha's documents were processed at once"


@pytest.mark.django_db
def test_the_user_sees_why_a_bomb_was_refused(org_a, client_for, settings, tmp_path):
    """Through the API: upload accepted (it is a real .docx), then `failed` with the reason.

    (Also the module's one test on the rolled-back database, which makes pytest-django
    create the test database when this module runs alone.)"""
    from io import BytesIO

    from tests.factories import process_pending

    settings.MEDIA_ROOT = str(tmp_path / "media")
    member = client_for(org_a, "member")
    collection = member.post("/api/v1/collections", {"name": "Bombs"}, format="json").json()
    name, data = bombs.docx_billion_laughs()
    upload = BytesIO(data)
    upload.name = name
    url = f"/api/v1/collections/{collection['id']}/documents"

    response = member.post(url, {"files": [upload]}, format="multipart")
    assert response.status_code == 201, response.json()
    [result] = response.json()["results"]
    [outcome] = process_pending(org_a)

    detail = member.get(f"{url}/{result['document']['id']}").json()
    assert outcome.status == "failed"
    assert detail["status"] == "failed"
    assert "document type declaration (DTD)" in detail["error"]

"""The ingestion pipeline on the real database and the real local embedder."""

import pytest
from django_tenants.utils import schema_context

from assistants.catalog.models import AIModel
from assistants.tests.providers.fake_server import error
from billing.models import UsageRecord
from core.tenancy import current_organization
from knowledge_base import ingestion, services
from knowledge_base.models import Document, DocumentChunk, DocumentSection, DocumentStatus
from knowledge_base.tests.test_extraction import make_pdf
from tests.factories import add_text, process_pending

HANDBOOK = """# Refunds

Customers can ask for a refund within 30 days of purchase. Refunds are paid back to the
original card within five business days.

# Shipping

Orders ship from our warehouse in Lyon. Express delivery takes two days inside the EU.
""" + "\n\n".join(f"Shipping note {i}: parcels are tracked end to end." for i in range(30))


@pytest.mark.django_db
class TestPipeline:
    def test_text_document_is_chunked_embedded_and_completed(self, org_a, collection):
        document = add_text(org_a, collection, "Handbook", HANDBOOK)

        [result] = process_pending(org_a)

        assert result.status == "completed" and result.chunks > 1
        with schema_context(org_a.slug):
            document.refresh_from_db()
            chunks = list(DocumentChunk.objects.filter(document=document).order_by("index"))
            collection.refresh_from_db()
        assert document.status == DocumentStatus.COMPLETED
        assert document.chunks_done == document.chunks_total == len(chunks)
        assert [c.index for c in chunks] == list(range(len(chunks)))
        assert chunks[0].section_title == "Refunds"
        assert any(c.section_title == "Shipping" for c in chunks)
        assert all(len(c.embedding) == 384 and c.embedding_dimensions == 384 for c in chunks)
        assert collection.chunk_count == len(chunks) and collection.document_count == 1
        usage = UsageRecord.objects.filter(organization=org_a.organization, kind="embedding")
        assert usage.exists() and all(u.channel == "ingestion" and u.cost == 0 for u in usage)

    def test_a_second_delivery_is_harmless_and_reprocessing_replaces_chunks(
        self, org_a, collection
    ):
        document = add_text(org_a, collection, "Handbook", HANDBOOK)
        process_pending(org_a)
        with schema_context(org_a.slug):
            first = list(
                DocumentChunk.objects.filter(document=document).values_list("index", "content")
            )
            # the same task delivered again
            again = ingestion.document_process(
                document_id=document.id,
                version=document.version,
                organization=current_organization(),
            )
            assert again.status == "skipped"
            services.document_reprocess(document=document)
        process_pending(org_a)

        with schema_context(org_a.slug):
            second = list(
                DocumentChunk.objects.filter(document=document).values_list("index", "content")
            )
            assert DocumentChunk.objects.filter(document=document).count() == len(first)
        assert second == first

    def test_a_stale_version_does_nothing(self, org_a, collection):
        document = add_text(org_a, collection, "Handbook", HANDBOOK)
        with schema_context(org_a.slug):
            services.document_reprocess(document=document)  # version 2 queued
            stale = ingestion.document_process(
                document_id=document.id, version=1, organization=current_organization()
            )
        assert stale.status == "skipped"

    def test_failure_marks_failed_with_reason_and_leaves_others_alone(self, org_a, collection):
        good = add_text(org_a, collection, "Good", HANDBOOK)
        process_pending(org_a)
        with schema_context(org_a.slug):
            [outcome] = services.documents_upload(
                collection=collection,
                uploads=[services.Upload("broken.pdf", b"%PDF-1.7\n" + b"\x00garbage" * 50)],
                max_bytes=10**6,
            )
        process_pending(org_a)

        with schema_context(org_a.slug):
            broken = Document.objects.get(pk=outcome.document.pk)
            good.refresh_from_db()
            assert broken.status == DocumentStatus.FAILED and broken.error
            assert not DocumentChunk.objects.filter(document=broken).exists()
            assert good.status == DocumentStatus.COMPLETED
            assert DocumentChunk.objects.filter(document=good).exists()

    def test_transient_provider_errors_are_retried_then_fail_cleanly(self, org_a, provider_server):
        # given: a collection embedding with OpenAI, whose server is down
        with schema_context(org_a.slug):
            from assistants import services as assistant_services

            assistant_services.credential_create(
                provider="openai",
                api_key="sk-test-good-key-1234",
                base_url=f"{provider_server.url}/v1",
            )
            remote = services.collection_create(
                name="Remote",
                embedding_model=AIModel.objects.get(model_id="text-embedding-3-small"),
            )
            document = services.document_create_text(
                collection=remote, title="T", text=HANDBOOK
            ).document
            provider_server.enqueue(error(503), error(503))

            # when: a non-final attempt meets the outage, then the final one
            with pytest.raises(ingestion.RetryableIngestionError):
                ingestion.document_process(
                    document_id=document.id,
                    version=1,
                    organization=current_organization(),
                    final_attempt=False,
                )
            document.refresh_from_db()
            assert document.status == DocumentStatus.PENDING
            final = ingestion.document_process(
                document_id=document.id, version=1, organization=current_organization()
            )

            # then
            document.refresh_from_db()
            assert final.status == "failed" and "Embedding failed" in document.error
            assert not DocumentChunk.objects.filter(document=document).exists()


@pytest.mark.django_db
class TestUploads:
    def _upload(self, org, collection, *files, max_bytes=10**6):
        with schema_context(org.slug):
            return services.documents_upload(
                collection=collection,
                uploads=[services.Upload(n, d) for n, d in files],
                max_bytes=max_bytes,
            )

    def test_same_bytes_in_one_collection_are_reported_as_duplicate(self, org_a, collection):
        [first] = self._upload(org_a, collection, ("a.md", b"# A\n\nSame text."))
        [second] = self._upload(org_a, collection, ("copy.md", b"# A\n\nSame text."))
        assert first.document and second.document is None
        assert second.duplicate_of.pk == first.document.pk

    @pytest.mark.parametrize(
        ("name", "data", "error_class"),
        [
            ("empty.txt", b"", "DomainError"),
            ("junk.txt", bytes(range(256)) * 20, "UnsupportedMediaType"),
            ("fake.pdf", b"just some text pretending", "UnsupportedMediaType"),
            ("image.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "UnsupportedMediaType"),
        ],
    )
    def test_bad_files_are_refused_before_anything_is_stored(
        self, org_a, collection, media_root, name, data, error_class
    ):
        with pytest.raises(Exception) as exc:
            self._upload(org_a, collection, ("fine.md", b"# Fine\n\nok"), (name, data))
        assert type(exc.value).__name__ == error_class
        with schema_context(org_a.slug):
            assert not Document.objects.exists()
        assert not any(p.is_file() for p in media_root.rglob("*")) if media_root.exists() else True

    def test_oversized_file_is_413(self, org_a, collection):
        with pytest.raises(services.PayloadTooLarge):
            self._upload(org_a, collection, ("big.txt", b"a" * 2000), max_bytes=1000)

    def test_delete_removes_chunks_and_the_stored_file(
        self, org_a, collection, media_root, django_capture_on_commit_callbacks
    ):
        [outcome] = self._upload(org_a, collection, ("notes.md", HANDBOOK.encode()))
        process_pending(org_a)
        assert len([p for p in media_root.rglob("*") if p.is_file()]) == 1

        with schema_context(org_a.slug), django_capture_on_commit_callbacks(execute=True):
            services.document_delete(document=Document.objects.get(pk=outcome.document.pk))

        with schema_context(org_a.slug):
            assert not DocumentChunk.objects.filter(document_id=outcome.document.pk).exists()
            collection.refresh_from_db()
        assert collection.document_count == 0 and collection.chunk_count == 0
        assert not [p for p in media_root.rglob("*") if p.is_file()]


@pytest.fixture
def sectioned(org_a):
    """A parent-child collection (ADR 0103): small searched chunks in larger sections."""
    with schema_context(org_a.slug):
        return services.collection_create(
            name="Sectioned",
            embedding_model=AIModel.objects.get(provider="local", model_id="all-minilm-l6-v2"),
            chunk_size=60,
            chunk_overlap=10,
            chunking="parent_child",
            parent_size=200,
        )


def _tree(org, document):
    with schema_context(org.slug):
        sections = list(DocumentSection.objects.filter(document=document).order_by("index"))
        chunks = list(
            DocumentChunk.objects.filter(document=document)
            .select_related("parent")
            .order_by("index")
        )
    return sections, chunks


@pytest.mark.django_db
class TestParentChild:
    def test_sections_are_written_and_each_chunk_points_into_its_own(self, org_a, sectioned):
        document = add_text(org_a, sectioned, "Handbook", HANDBOOK)

        [result] = process_pending(org_a)

        sections, chunks = _tree(org_a, document)
        assert result.status == "completed" and result.chunks == len(chunks)
        assert len(chunks) > len(sections) >= 3
        assert sections[0].section_title == "Refunds"
        assert {c.parent_id for c in chunks} == {s.id for s in sections}
        for chunk in chunks:
            start, end = chunk.metadata["parent_start"], chunk.metadata["parent_end"]
            assert chunk.parent.content[start:end] == chunk.content
            assert chunk.section_title == chunk.parent.section_title
        with schema_context(org_a.slug):
            sectioned.refresh_from_db()
        # Only the searched chunks count, in the collection and in the BM25 statistics.
        assert sectioned.chunk_count == len(chunks)
        assert sectioned.text_chunks == len(chunks)
        assert sectioned.text_length == sum(c.search_length for c in chunks)

    def test_pdf_sections_keep_their_page(self, org_a, sectioned):
        pages = [
            "Introduction to the pump. It moves water from the well to the tank.",
            "Maintenance of the pump. Grease the bearings monthly and check the seals.",
            "Disposal of the pump. Recycle the copper windings at a certified facility.",
        ]
        with schema_context(org_a.slug):
            services.documents_upload(
                collection=sectioned,
                uploads=[services.Upload("pump.pdf", make_pdf(pages, title="Pump"))],
                user=None,
                max_bytes=10_000_000,
            )
        process_pending(org_a)
        with schema_context(org_a.slug):
            document = Document.objects.get(collection=sectioned)
        sections, chunks = _tree(org_a, document)

        assert [(s.page_number, s.page_end) for s in sections] == [(1, 1), (2, 2), (3, 3)]
        assert all(c.page_number == c.parent.page_number for c in chunks)

    def test_reprocessing_replaces_sections_without_duplicates(self, org_a, sectioned):
        document = add_text(org_a, sectioned, "Handbook", HANDBOOK)
        process_pending(org_a)
        first_sections, first_chunks = _tree(org_a, document)
        with schema_context(org_a.slug):
            again = ingestion.document_process(
                document_id=document.id,
                version=document.version,
                organization=current_organization(),
            )
            assert again.status == "skipped"
            services.document_reprocess(document=document)
        process_pending(org_a)

        sections, chunks = _tree(org_a, document)
        assert [s.content for s in sections] == [s.content for s in first_sections]
        assert [c.content for c in chunks] == [c.content for c in first_chunks]
        with schema_context(org_a.slug):
            assert DocumentSection.objects.count() == len(first_sections)
            assert {c.parent_id for c in chunks} <= set(
                DocumentSection.objects.values_list("id", flat=True)
            )

    def test_a_switch_of_the_setting_takes_effect_on_reprocess(self, org_a, sectioned):
        document = add_text(org_a, sectioned, "Handbook", HANDBOOK)
        process_pending(org_a)
        with schema_context(org_a.slug):
            services.collection_update(collection=sectioned, chunking="flat")
        sections, chunks = _tree(org_a, document)
        assert sections and all(c.parent_id for c in chunks)  # until it is processed again

        with schema_context(org_a.slug):
            services.document_reprocess(document=document)
        process_pending(org_a)

        sections, chunks = _tree(org_a, document)
        assert sections == [] and chunks and all(c.parent_id is None for c in chunks)
        with schema_context(org_a.slug):
            services.collection_update(collection=sectioned, chunking="parent_child")
            services.document_reprocess(document=document)
        process_pending(org_a)
        sections, chunks = _tree(org_a, document)
        assert sections and all(c.parent_id for c in chunks)

    def test_deleting_the_document_deletes_its_sections(self, org_a, sectioned):
        document = add_text(org_a, sectioned, "Handbook", HANDBOOK)
        process_pending(org_a)
        with schema_context(org_a.slug):
            assert DocumentSection.objects.exists()
            services.document_delete(document=Document.objects.get(pk=document.pk))
            assert not DocumentSection.objects.exists() and not DocumentChunk.objects.exists()

"""Ingestion leases and the recovery sweep: a document can't stay stuck.

The sweep queues its task on commit; these tests capture the callbacks (what would
be sent) and run the pipeline in-process where they need the end state.
"""

from datetime import timedelta

from django.utils import timezone
from django_tenants.utils import schema_context

from core.tenancy import current_organization
from knowledge_base import ingestion, leases
from knowledge_base.models import Document, DocumentChunk, DocumentStatus
from tests.factories import add_text

TEXT = "# Guide\n\n" + "A useful sentence about refunds and parcels. " * 60


def _sweep():
    return leases.documents_recover_stalled(
        requeue=lambda document_id, version: None, fail=ingestion.fail_document
    )


def _process(document, owner):
    return ingestion.document_process(
        document_id=document.id,
        version=document.version,
        organization=current_organization(),
        owner=owner,
    )


def _expire(document, **fields):
    Document.objects.filter(pk=document.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1), **fields
    )


def test_a_live_lease_keeps_a_second_delivery_out_and_its_owner_takes_over_again(org_a, collection):
    document = add_text(org_a, collection, "Guide", TEXT)
    with schema_context(org_a.slug):
        # given: delivery A holds the document
        assert leases.document_lease_claim(document_id=document.id, version=1, owner="task-a")
        # when/then: another live delivery can't run it...
        assert not leases.document_lease_claim(document_id=document.id, version=1, owner="task-b")
        # ...but A delivered again (its worker child was killed) takes it over at once
        assert leases.document_lease_claim(document_id=document.id, version=1, owner="task-a")
        assert Document.objects.get(pk=document.pk).lease_owner == "task-a"


def test_an_expired_lease_is_taken_over_and_only_the_new_owner_writes_chunks(org_a, collection):
    document = add_text(org_a, collection, "Guide", TEXT)
    with schema_context(org_a.slug):
        # given: A claimed the document, then stopped renewing (its worker died)
        assert leases.document_lease_claim(document_id=document.id, version=1, owner="task-a")
        _expire(document)

        # when: B runs it, then A comes back
        assert _process(document, "task-b").status == "completed"
        late = _process(document, "task-a")

        # then: A finds it done; the chunks are B's, once
        assert late.status == "skipped"
        stored = Document.objects.get(pk=document.pk)
        assert stored.status == DocumentStatus.COMPLETED
        assert stored.lease_owner == ""
        assert DocumentChunk.objects.filter(document=document).count() == stored.chunks_total > 0


def test_the_sweep_requeues_a_document_whose_worker_died_and_says_it_is_stalled(
    org_a, collection, django_capture_on_commit_callbacks, client_for
):
    document = add_text(org_a, collection, "Guide", TEXT)
    with schema_context(org_a.slug):
        assert leases.document_lease_claim(document_id=document.id, version=1, owner="task-a")
        _expire(document)
        stalled = Document.objects.get(pk=document.pk)
        assert leases.document_is_stalled(stalled)

        # when: the sweep runs (beat)
        with django_capture_on_commit_callbacks() as queued:
            result = _sweep()

        # then: queued again, counted, and shown as stalled, retrying
        assert result == {"requeued": 1, "failed": 0}
        assert len(queued) == 1
        stored = Document.objects.get(pk=document.pk)
        assert (stored.status, stored.recovery_attempts, stored.lease_owner) == ("pending", 1, "")
    response = client_for(org_a, "admin").get(f"/api/v1/collections/{collection.id}/documents")
    row = next(r for r in response.json()["results"] if r["id"] == str(document.id))
    assert (row["stalled"], row["recovery_attempts"]) == (True, 1)

    # and the new delivery completes it
    with schema_context(org_a.slug):
        assert _process(stored, "task-c").status == "completed"
        assert not leases.document_is_stalled(Document.objects.get(pk=document.pk))


def test_a_live_document_and_a_fresh_pending_one_are_left_alone(
    org_a, collection, django_capture_on_commit_callbacks
):
    live = add_text(org_a, collection, "Live", TEXT)
    add_text(org_a, collection, "Waiting", TEXT + " more")
    with schema_context(org_a.slug):
        assert leases.document_lease_claim(document_id=live.id, version=1, owner="task-a")
        with django_capture_on_commit_callbacks() as queued:
            assert _sweep() == {"requeued": 0, "failed": 0}
        assert queued == []


def test_a_document_whose_task_never_started_is_queued_again(
    org_a, collection, settings, django_capture_on_commit_callbacks
):
    settings.DOCUMENT_PENDING_TIMEOUT_SECONDS = 60
    document = add_text(org_a, collection, "Lost", TEXT)
    with schema_context(org_a.slug):
        Document.objects.filter(pk=document.pk).update(
            updated_at=timezone.now() - timedelta(minutes=5)
        )
        with django_capture_on_commit_callbacks() as queued:
            assert _sweep() == {"requeued": 1, "failed": 0}
        assert len(queued) == 1
        assert Document.objects.get(pk=document.pk).recovery_attempts == 1


def test_after_the_last_attempt_the_document_fails_with_the_reason(
    org_a, collection, settings, django_capture_on_commit_callbacks
):
    settings.DOCUMENT_MAX_RECOVERIES = 2
    document = add_text(org_a, collection, "Doomed", TEXT)
    with schema_context(org_a.slug):
        assert leases.document_lease_claim(document_id=document.id, version=1, owner="task-a")
        _expire(document, recovery_attempts=2)
        with django_capture_on_commit_callbacks() as queued:
            assert _sweep() == {"requeued": 0, "failed": 1}
        assert len(queued) == 1  # the document.failed event (core/events), no task again
        stored = Document.objects.get(pk=document.pk)
        assert stored.status == DocumentStatus.FAILED
        assert "stalled 2 times" in stored.error
        assert not leases.document_is_stalled(stored)


def test_reprocessing_starts_the_count_again(org_a, collection):
    from knowledge_base import services

    document = add_text(org_a, collection, "Again", TEXT)
    with schema_context(org_a.slug):
        Document.objects.filter(pk=document.pk).update(
            status=DocumentStatus.FAILED, recovery_attempts=3
        )
        reprocessed = services.document_reprocess(document=Document.objects.get(pk=document.pk))
        assert (reprocessed.recovery_attempts, reprocessed.version) == (0, 2)

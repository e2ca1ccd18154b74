"""Ingestion leases: a document being processed is owned by one delivery of its task.

A claim writes the owner (the Celery task id) and an expiry; while the pipeline runs,
a heartbeat thread pushes the expiry forward. So:

- a redelivery of the same task (Celery re-queues it when the worker child running it
  was killed: ``task_reject_on_worker_lost``) is the owner coming back, and takes the
  document over at once;
- a second live delivery (a duplicate message, or a re-queue by the sweep) finds a
  fresh lease held by someone else and does nothing;
- nobody renews the lease of a process that died, so it expires, and the sweep
  (:func:`documents_recover_stalled`, run by beat) queues the document again, a
  bounded number of times, then records why it stopped.

A document that stays ``pending`` too long (its message was lost: Redis restarted
without its data, or the enqueue failed) is queued again by the same sweep.
See docs/adr/0015-broker-outages-and-leases.md.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django_tenants.utils import schema_context

from core.tenancy import current_organization, require_tenant_schema
from knowledge_base.ingestion_slots import ingestion_slot_release
from knowledge_base.models import Document, DocumentSource, DocumentStatus

logger = logging.getLogger(__name__)

Requeue = Callable[[str, int], None]
Fail = Callable[[object, int, str], None]


def lease_duration() -> timedelta:
    return timedelta(seconds=settings.DOCUMENT_LEASE_SECONDS)


def document_lease_claim(*, document_id, version: int, owner: str) -> bool:
    """Take the document for this delivery; False when another live delivery holds it,
    it was reprocessed since (another version), or it is already done."""
    now = timezone.now()
    claimable = (
        Q(status__in=[DocumentStatus.PENDING, DocumentStatus.FAILED])
        # The owner's own task delivered again: the process that ran it died.
        | Q(status=DocumentStatus.PROCESSING, lease_owner=owner)
        # Nobody renewed the lease: its holder is gone.
        | Q(status=DocumentStatus.PROCESSING, lease_expires_at__lt=now)
        | Q(status=DocumentStatus.PROCESSING, lease_expires_at__isnull=True)
    )
    return bool(
        Document.objects.filter(claimable, pk=document_id, version=version).update(
            status=DocumentStatus.PROCESSING,
            processing_started_at=now,
            lease_owner=owner,
            lease_expires_at=now + lease_duration(),
            error="",
            chunks_done=0,
            chunks_total=0,
            updated_at=now,
        )
    )


def document_lease_renew(*, document_id, owner: str) -> bool:
    """Push the expiry forward; False when the lease is no longer ours."""
    now = timezone.now()
    return bool(
        Document.objects.filter(
            pk=document_id, lease_owner=owner, status=DocumentStatus.PROCESSING
        ).update(lease_expires_at=now + lease_duration())
    )


def document_lease_held(*, document: Document, owner: str) -> bool:
    """Whether this delivery still owns the (locked) document row it is about to finish."""
    return not owner or document.lease_owner == owner


@contextlib.contextmanager
def document_lease_heartbeat(*, document_id, owner: str):
    """Renew the lease every third of its duration while the body runs.

    A thread of its own (with its own database connection, closed at the end), so a
    long extraction or a slow provider call keeps the lease alive without the
    pipeline having to remember to."""
    schema = connection.schema_name
    interval = settings.DOCUMENT_LEASE_SECONDS / 3
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(interval):
                try:
                    with schema_context(schema):
                        if not document_lease_renew(document_id=document_id, owner=owner):
                            return  # reprocessed, deleted or taken over: nothing to keep
                except Exception:  # a database blip: try again at the next beat
                    logger.warning(
                        "lease heartbeat of document %s failed", document_id, exc_info=True
                    )
                    close_old_connections()
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"lease-{document_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def document_is_stalled(document: Document, now=None) -> bool:
    """Not done, and its processing stalled: queued again by the sweep, or held by a
    lease nobody renews (the sweep will queue it again)."""
    now = now or timezone.now()
    if document.status == DocumentStatus.PENDING:
        return document.recovery_attempts > 0
    if document.status == DocumentStatus.PROCESSING:
        expired = document.lease_expires_at is not None and document.lease_expires_at < now
        return expired or document.recovery_attempts > 0
    return False


# -- the sweep ------------------------------------------------------------------


def _stalled(now) -> Q:
    pending_since = now - timedelta(seconds=settings.DOCUMENT_PENDING_TIMEOUT_SECONDS)
    stalled = Q(status=DocumentStatus.PROCESSING, lease_expires_at__lt=now) | Q(
        status=DocumentStatus.PENDING, updated_at__lt=pending_since
    )
    # A URL document whose page was never read has no text to ingest yet: its fetch has
    # its own lease and sweep (knowledge_base/web_sources.py).
    return stalled & ~Q(source=DocumentSource.URL, sha256="")


def documents_recover_stalled(*, requeue: Requeue, fail: Fail) -> dict:
    """Queue again the documents of this organization whose worker died (lease
    expired) or whose task never started (pending too long); after
    ``DOCUMENT_MAX_RECOVERIES`` attempts, mark them ``failed`` with the reason.

    ``requeue(document_id, version)`` sends the processing task (called on commit);
    ``fail(document_id, version, reason)`` records the failure. The task module wires
    them, so this module imports neither the tasks nor the pipeline."""
    require_tenant_schema()
    now = timezone.now()
    limit = settings.DOCUMENT_MAX_RECOVERIES
    organization_id = current_organization().pk
    requeued = failed = 0
    with transaction.atomic():
        # skip_locked: a document being finished right now is left for the next sweep.
        stalled = list(
            Document.objects.select_for_update(skip_locked=True)
            .filter(_stalled(now))
            .only(
                "id",
                "version",
                "status",
                "recovery_attempts",
                "lease_owner",
                "collection_id",
                "file_id",
            )
        )
        for document in stalled:
            if document.recovery_attempts >= limit:
                _give_up(document, limit, fail)
                failed += 1
                continue
            was = document.status
            if document.lease_owner:
                # Its holder is dead: free its ingestion slot too (the same token).
                ingestion_slot_release(organization_id=organization_id, token=document.lease_owner)
            Document.objects.filter(pk=document.pk).update(
                status=DocumentStatus.PENDING,
                lease_owner="",
                lease_expires_at=None,
                recovery_attempts=F("recovery_attempts") + 1,
                updated_at=now,
            )
            logger.warning(
                "document %s stalled (%s); queued again (attempt %s of %s)",
                document.pk,
                was,
                document.recovery_attempts + 1,
                limit,
            )
            transaction.on_commit(lambda d=str(document.pk), v=document.version: requeue(d, v))
            requeued += 1
    return {"requeued": requeued, "failed": failed}


def _give_up(document: Document, limit: int, fail: Fail) -> None:
    reason = (
        f"Processing stalled {limit} times (the worker stopped or the task was lost) and "
        "was given up; reprocess the document to try again."
    )
    fail(document.pk, document.version, reason)
    logger.error("document %s: %s", document.pk, reason)


def documents_recover_stalled_everywhere(*, requeue: Requeue, fail: Fail) -> dict:
    """The sweep in every organization's schema (the beat task runs in public)."""
    from users.models import Organization

    totals = {"requeued": 0, "failed": 0}
    for schema in Organization.objects.exclude(schema_name=settings.PUBLIC_SCHEMA_NAME).values_list(
        "schema_name", flat=True
    ):
        with schema_context(schema):
            result = documents_recover_stalled(requeue=requeue, fail=fail)
        totals = {key: totals[key] + result[key] for key in totals}
    return totals

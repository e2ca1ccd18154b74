"""Syncing a member's chosen Gmail label into a knowledge collection.

One thread is one document (sender, date, subject as metadata). The first run lists the
label (users.threads.list) and remembers the mailbox's history id; later runs ask Gmail
what changed since (users.history.list) and fetch only those threads. A thread that was
deleted, or no longer carries the label, loses its document. When Gmail no longer has
the history (404: too old) the run is a full one again, which also removes the threads
that left the label meanwhile.

A run holds the connection with a lease (renewed per thread): a second delivery of the
task, or a second "sync now", finds it held and does nothing; a run whose worker died
is taken over once the lease expires. Each thread is written in its own transaction,
so a run that stops halfway leaves whole documents and the next run completes the rest.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core import errors
from core.tenancy import require_tenant_schema
from integrations.gmail import client as gmail
from integrations.gmail.messages import in_label, thread_document
from integrations.models import GmailConnection, GmailStatus, GmailSyncStatus, GmailThread
from knowledge_base import services as knowledge_services
from knowledge_base.models import Collection, Document

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)


def _claim(connection_id) -> GmailConnection | None:
    now = timezone.now()
    with transaction.atomic():
        connection = GmailConnection.objects.select_for_update().filter(pk=connection_id).first()
        if connection is None:
            return None
        held = (
            connection.sync_status == GmailSyncStatus.RUNNING
            and connection.sync_lease_until
            and connection.sync_lease_until > now
        )
        if held:
            return None
        connection.sync_status = GmailSyncStatus.RUNNING
        connection.sync_lease_until = now + LEASE
        connection.sync_threads_done = 0
        connection.sync_threads_total = 0
        connection.save(
            update_fields=[
                "sync_status",
                "sync_lease_until",
                "sync_threads_done",
                "sync_threads_total",
                "updated_at",
            ]
        )
        return connection


def _progress(connection: GmailConnection, *, done: int, total: int) -> None:
    GmailConnection.objects.filter(pk=connection.pk).update(
        sync_threads_done=done,
        sync_threads_total=total,
        sync_lease_until=timezone.now() + LEASE,
    )


def _history_changes(service, connection: GmailConnection) -> tuple[set[str], str] | None:
    """Thread ids touched since the stored history id and the new history id; None when
    Gmail no longer has that history (a full sync is needed)."""
    threads: set[str] = set()
    page_token = None
    latest = connection.history_id
    while True:
        try:
            answer = gmail.execute(
                service.users()
                .history()
                .list(
                    userId="me",
                    startHistoryId=connection.history_id,
                    labelId=connection.label_id,
                    pageToken=page_token,
                )
            )
        except gmail.GmailUnavailable as exc:
            if gmail.is_not_found(exc):
                return None
            raise
        for record in answer.get("history") or []:
            for kind in ("messagesAdded", "messagesDeleted", "labelsAdded", "labelsRemoved"):
                for change in record.get(kind) or []:
                    thread_id = (change.get("message") or {}).get("threadId")
                    if thread_id:
                        threads.add(thread_id)
        latest = answer.get("historyId") or latest
        page_token = answer.get("nextPageToken")
        if not page_token:
            return threads, str(latest)


def _label_threads(service, connection: GmailConnection) -> dict[str, str]:
    """Thread id -> history id of every thread in the label (at most the configured
    number, newest first)."""
    found: dict[str, str] = {}
    page_token = None
    limit = settings.GMAIL_SYNC_MAX_THREADS
    while len(found) < limit:
        answer = gmail.execute(
            service.users()
            .threads()
            .list(
                userId="me",
                labelIds=[connection.label_id],
                maxResults=min(100, limit - len(found)),
                pageToken=page_token,
            )
        )
        for thread in answer.get("threads") or []:
            found[thread["id"]] = str(thread.get("historyId", ""))
        page_token = answer.get("nextPageToken")
        if not page_token:
            break
    return found


@transaction.atomic
def _remove(connection: GmailConnection, thread_id: str) -> bool:
    row = GmailThread.objects.filter(connection=connection, thread_id=thread_id).first()
    if row is None:
        return False
    if row.document_id:
        document = Document.objects.filter(pk=row.document_id).first()
        if document is not None:
            knowledge_services.document_delete(document=document)
    row.delete()
    return True


@transaction.atomic
def _upsert(connection: GmailConnection, collection: Collection, thread: dict) -> str:
    """'added', 'updated' or 'unchanged'."""
    rendered = thread_document(thread, mailbox=connection.email)
    data = rendered.text.encode()
    sha256 = hashlib.sha256(data).hexdigest()
    row = GmailThread.objects.filter(connection=connection, thread_id=thread["id"]).first()
    document = (
        Document.objects.filter(pk=row.document_id, collection=collection).first()
        if row and row.document_id
        else None
    )
    if document is not None:
        if document.sha256 == sha256:
            outcome = "unchanged"
        else:
            Document.objects.filter(pk=document.pk).update(
                title=rendered.title, text=rendered.text, size=len(data), sha256=sha256
            )
            knowledge_services.document_reprocess(document=document)
            outcome = "updated"
        Document.objects.filter(pk=document.pk).update(metadata=rendered.metadata)
    else:
        created = knowledge_services.document_create_text(
            collection=collection, title=rendered.title, text=rendered.text, user=connection.user
        )
        document = created.document  # None: the same text is already a document there
        if document is not None:
            Document.objects.filter(pk=document.pk).update(metadata=rendered.metadata)
        outcome = "added"
    GmailThread.objects.update_or_create(
        connection=connection,
        thread_id=thread["id"],
        defaults={
            "organization": connection.organization,
            "document_id": document.pk if document is not None else None,
            "history_id": str(thread.get("historyId", "")),
            "synced_at": timezone.now(),
        },
    )
    return outcome


def _fetch(service, thread_id: str) -> dict | None:
    try:
        return gmail.execute(
            service.users().threads().get(userId="me", id=thread_id, format="full")
        )
    except gmail.GmailUnavailable as exc:
        if gmail.is_not_found(exc):
            return None  # deleted (or trashed and purged)
        raise


def _run(connection: GmailConnection) -> dict:
    if not (connection.label_id and connection.collection_id):
        raise errors.Conflict(
            "Choose a label and a collection before syncing.", code="gmail_not_configured"
        )
    collection = Collection.objects.filter(pk=connection.collection_id).first()
    if collection is None:
        raise errors.Conflict(
            "The collection this label syncs into no longer exists. Choose another.",
            code="gmail_collection_missing",
        )
    service = gmail.gmail_service(connection)
    known = dict(
        GmailThread.objects.filter(connection=connection).values_list("thread_id", "history_id")
    )
    changes = _history_changes(service, connection) if connection.history_id else None
    if changes is not None:
        touched, history_id = changes
        full = False
        to_fetch = sorted(touched)
        gone: list[str] = []
    else:
        full = True
        history_id = str(
            gmail.execute(service.users().getProfile(userId="me")).get("historyId", "")
        )
        listed = _label_threads(service, connection)
        to_fetch = [t for t, h in listed.items() if known.get(t) != h or not h]
        gone = [t for t in known if t not in listed]
    result = {"added": 0, "updated": 0, "removed": 0, "unchanged": 0, "full": full}
    if full:
        result["unchanged"] = len(listed) - len(to_fetch)
    total = len(to_fetch) + len(gone)
    done = 0
    _progress(connection, done=0, total=total)
    for thread_id in gone:
        result["removed"] += int(_remove(connection, thread_id))
        done += 1
        _progress(connection, done=done, total=total)
    for thread_id in to_fetch:
        thread = _fetch(service, thread_id)
        if (
            thread is None
            or not thread.get("messages")
            or not in_label(thread, connection.label_id)
        ):
            result["removed"] += int(_remove(connection, thread_id))
        else:
            result[_upsert(connection, collection, thread)] += 1
        done += 1
        _progress(connection, done=done, total=total)
    return {"history_id": history_id, **result}


def gmail_sync(*, connection_id) -> dict:
    """One run for the connection (in its organization's schema); safe to run twice."""
    require_tenant_schema()
    connection = _claim(connection_id)
    if connection is None:
        return {"status": "busy"}
    try:
        result = _run(connection)
    except errors.DomainError as exc:
        status = GmailStatus.ERROR if isinstance(exc, gmail.GmailAccessRevoked) else None
        GmailConnection.objects.filter(pk=connection.pk).update(
            sync_status=GmailSyncStatus.FAILED,
            sync_lease_until=None,
            last_error=exc.message[:500],
            **_backoff(connection),
            **({"status": status} if status else {}),
        )
        logger.info("gmail sync of %s failed: %s", connection.pk, exc.code)
        return {"status": "failed", "code": exc.code}
    except Exception:
        GmailConnection.objects.filter(pk=connection.pk).update(
            sync_status=GmailSyncStatus.FAILED,
            sync_lease_until=None,
            last_error="The sync stopped on an unexpected error. The team has been told.",
            **_backoff(connection),
        )
        raise
    history_id = result.pop("history_id")
    GmailConnection.objects.filter(pk=connection.pk).update(
        sync_status=GmailSyncStatus.IDLE,
        sync_lease_until=None,
        history_id=history_id,
        last_sync_at=timezone.now(),
        last_sync_result=result,
        last_error="",
        sync_failures=0,
        next_sync_at=timezone.now() + sync_interval(),
    )
    return {"status": "done", **result}


# -- the schedule ---------------------------------------------------------------------------

# A failing connection is retried after the interval, doubled per further failure in a row, at most
# this long apart (Google down for a day costs a day's worth of runs: a handful).
MAX_BACKOFF = timedelta(hours=24)


def sync_interval() -> timedelta:
    return timedelta(minutes=settings.GMAIL_SYNC_INTERVAL_MINUTES)


def _backoff(connection: GmailConnection) -> dict:
    failures = connection.sync_failures + 1
    delay = min(sync_interval() * 2 ** min(failures - 1, 16), MAX_BACKOFF)
    return {"sync_failures": failures, "next_sync_at": timezone.now() + delay}

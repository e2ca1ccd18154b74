"""Writes: a member's Gmail connection (label and collection, sync, disconnect) and
"draft a reply" (a Gmail draft written by an assistant, never sent)."""

from __future__ import annotations

import base64
import logging
from datetime import timedelta
from email.message import EmailMessage

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django_tenants.utils import schema_context, tenant_context

from assistants.providers.errors import ProviderError, as_domain_error
from audit.models import AuditAction
from audit.services import Actor, audit_record
from billing.models import Channel
from chat import services as chat_services
from chat import streaming as chat_streaming
from core import errors
from core.dependencies import require_broker
from integrations.gmail import client as gmail
from integrations.gmail.messages import reply_headers, thread_document
from integrations.gmail.sync import sync_interval
from integrations.gmail.tasks import gmail_sync_task
from integrations.models import GmailConnection, GmailStatus, GmailSyncStatus, GmailThread
from knowledge_base import services as knowledge_services
from knowledge_base.models import Collection, Document

logger = logging.getLogger(__name__)

# The thread given to the assistant is cut to this many characters (its latest part).
DRAFT_THREAD_CHARS = 6000


def gmail_labels(*, connection: GmailConnection) -> list[dict]:
    answer = gmail.execute(gmail.gmail_service(connection).users().labels().list(userId="me"))
    labels = [
        {"id": label["id"], "name": label.get("name", label["id"]), "type": label.get("type", "")}
        for label in answer.get("labels") or []
    ]
    return sorted(labels, key=lambda label: (label["type"] != "user", label["name"].lower()))


def _forget_synced(connection: GmailConnection) -> None:
    """The documents a previous label or collection produced go; the next run is full."""
    for row in GmailThread.objects.filter(connection=connection):
        document = Document.objects.filter(pk=row.document_id).first() if row.document_id else None
        if document is not None:
            knowledge_services.document_delete(document=document)
    GmailThread.objects.filter(connection=connection).delete()
    connection.history_id = ""


@transaction.atomic
def gmail_configure(
    *, connection: GmailConnection, label_id: str, collection_id, actor: Actor
) -> GmailConnection:
    """Choose what is synced (in the organization's schema: the collection is there)."""
    if not Collection.objects.filter(pk=collection_id).exists():
        raise errors.ValidationFailed(fields={"collection": ["No such collection."]})
    labels = {label["id"]: label for label in gmail_labels(connection=connection)}
    if label_id not in labels:
        raise errors.ValidationFailed(fields={"label_id": ["No such label in this mailbox."]})
    connection = GmailConnection.objects.select_for_update().get(pk=connection.pk)
    if connection.sync_status == GmailSyncStatus.RUNNING:
        raise errors.Conflict("A sync is running. Change the label when it has finished.")
    if (connection.label_id, connection.collection_id) != (label_id, collection_id):
        _forget_synced(connection)
    connection.label_id = label_id
    connection.label_name = labels[label_id]["name"]
    connection.collection_id = collection_id
    connection.save()
    audit_record(
        actor=actor,
        action=AuditAction.INTEGRATION_UPDATED,
        target=connection,
        changes={
            "provider": "gmail",
            "label": connection.label_name,
            "collection": str(collection_id),
        },
    )
    return connection


@transaction.atomic
def gmail_sync_request(*, connection: GmailConnection) -> GmailConnection:
    """Queue a sync run (nothing new when one is queued or running)."""
    if not (connection.label_id and connection.collection_id):
        raise errors.Conflict(
            "Choose a label and a collection before syncing.", code="gmail_not_configured"
        )
    if connection.status != GmailStatus.ACTIVE:
        raise gmail.GmailAccessRevoked(
            "Google no longer accepts this Gmail connection. Connect Gmail again."
        )
    require_broker()
    connection = GmailConnection.objects.select_for_update().get(pk=connection.pk)
    _queue(connection, now=timezone.now())
    return connection


# A run queued this long ago and never started lost its task (a broker outage): queue it
# again. A running one whose lease expired lost its worker (sync.py takes it over).
STALE_QUEUED = timedelta(hours=1)


def _queue(connection: GmailConnection, *, now) -> bool:
    """Queue a run for the locked ``connection``; False (nothing new) when one is queued
    or running, unless that one is stale (above)."""
    stale = (
        connection.sync_status == GmailSyncStatus.QUEUED
        and connection.updated_at < now - STALE_QUEUED
    ) or (
        connection.sync_status == GmailSyncStatus.RUNNING
        and (connection.sync_lease_until is None or connection.sync_lease_until < now)
    )
    if connection.sync_status in (GmailSyncStatus.QUEUED, GmailSyncStatus.RUNNING) and not stale:
        return False
    connection.sync_status = GmailSyncStatus.QUEUED
    connection.sync_threads_done = connection.sync_threads_total = 0
    connection.save(
        update_fields=["sync_status", "sync_threads_done", "sync_threads_total", "updated_at"]
    )
    connection_id, schema = str(connection.pk), connection.organization.schema_name
    # The run's schema named explicitly: the beat queues from the public schema, and
    # on_commit may run after the caller's schema_context has ended.
    transaction.on_commit(
        lambda: gmail_sync_task.apply_async((connection_id,), headers={"_schema_name": schema})
    )
    return True


def _due(now) -> Q:
    """Connections whose scheduled sync is due: its time has come, or (none set yet:
    configured before the schedule existed, or never synced) its last sync is older than
    the interval."""
    return Q(next_sync_at__lte=now) | Q(
        Q(last_sync_at__isnull=True) | Q(last_sync_at__lt=now - sync_interval()),
        next_sync_at__isnull=True,
    )


def _queueable(now) -> Q:
    """Not queued or running already (``_queue``'s test, as a query)."""
    return (
        Q(sync_status__in=[GmailSyncStatus.IDLE, GmailSyncStatus.FAILED])
        | Q(sync_status=GmailSyncStatus.QUEUED, updated_at__lt=now - STALE_QUEUED)
        | Q(sync_status=GmailSyncStatus.RUNNING, sync_lease_until__isnull=True)
        | Q(sync_status=GmailSyncStatus.RUNNING, sync_lease_until__lt=now)
    )


def gmail_sync_due(*, now=None, limit: int | None = None) -> list[str]:
    """The beat's scheduled incremental sync: queue a run for each connection that is
    active, configured (a label and a collection) and due (``_due``; a failing one backs
    off, sync.py), at most ``limit`` (GMAIL_SYNC_BATCH) per call, the longest waiting
    first. Safe to run twice and concurrently: rows are locked (others skip them) and a
    connection already queued or running gets nothing new. Runs in the public schema;
    each run is queued in its organization's. The ids queued."""
    now = now or timezone.now()
    limit = settings.GMAIL_SYNC_BATCH if limit is None else limit
    require_broker()
    queued: list[str] = []
    with transaction.atomic():
        due = (
            GmailConnection.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("organization")
            .filter(_due(now), _queueable(now), status=GmailStatus.ACTIVE)
            .filter(collection_id__isnull=False)
            .exclude(label_id="")
            .order_by(
                F("next_sync_at").asc(nulls_first=True), F("last_sync_at").asc(nulls_first=True)
            )
        )[:limit]
        for connection in due:
            with schema_context(connection.organization.schema_name):
                if _queue(connection, now=now):
                    queued.append(str(connection.pk))
    return queued


@transaction.atomic
def gmail_disconnect(*, connection: GmailConnection, actor: Actor) -> None:
    """The refresh token and the sync state go; the synced documents stay in their
    collection (the member deletes them there, or picks the collection's delete)."""
    audit_record(
        actor=actor,
        action=AuditAction.INTEGRATION_DISCONNECTED,
        target=connection,
        changes={"provider": "gmail", "mailbox": connection.email},
    )
    connection.delete()


def _raw(*, connection: GmailConnection, thread: dict, text: str) -> str:
    headers = reply_headers(thread)
    message = EmailMessage()
    message["From"] = connection.email
    message["To"] = headers["to"]
    message["Subject"] = headers["subject"]
    if headers["in_reply_to"]:
        message["In-Reply-To"] = headers["in_reply_to"]
        message["References"] = headers["references"]
    message.set_content(text)
    return base64.urlsafe_b64encode(message.as_bytes()).decode()


def gmail_draft_reply(
    *,
    connection: GmailConnection,
    thread_id: str,
    assistant_id,
    instructions: str,
    caller,
    organization,
) -> dict:
    """The assistant writes a reply to the thread's last message from the knowledge
    base; it is saved as a Gmail draft in the thread (users.drafts.create) and never
    sent. The turn is an ordinary chat turn of the member (in their history, counted in
    usage on the ``gmail`` channel)."""
    if not connection.can_compose:
        raise errors.Conflict(
            "Drafting needs the gmail.compose permission. Connect Gmail again and allow drafts.",
            code="gmail_compose_missing",
        )
    service = gmail.gmail_service(connection)
    try:
        thread = gmail.execute(
            service.users().threads().get(userId="me", id=thread_id, format="full")
        )
    except gmail.GmailUnavailable as exc:
        if gmail.is_not_found(exc):
            raise errors.ValidationFailed(
                fields={"thread_id": ["No such thread in this mailbox."]}
            ) from None
        raise
    if not thread.get("messages"):
        raise errors.ValidationFailed(fields={"thread_id": ["This thread has no messages."]})
    rendered = thread_document(thread, mailbox=connection.email).text[-DRAFT_THREAD_CHARS:]
    prompt = (
        f"Write the body of a reply, from {connection.email}, to the last message of the "
        "e-mail thread below. Answer from the knowledge base; say plainly what you do not "
        "know. Write only the reply's text, no subject line."
        + (f"\n\nInstructions: {instructions}" if instructions else "")
        + f"\n\nThe thread:\n\n{rendered}"
    )
    with tenant_context(organization):
        try:
            turn = chat_services.chat_prepare(
                organization=organization,
                assistant_id=assistant_id,
                message=prompt,
                user=connection.user,
                channel=Channel.GMAIL,
                caller=caller,
            )
            answer = chat_streaming.run_turn_to_completion(turn)
        except ProviderError as exc:
            raise as_domain_error(exc) from None
    text = answer.content.strip()
    draft = gmail.execute(
        service.users()
        .drafts()
        .create(
            userId="me",
            body={
                "message": {
                    "threadId": thread_id,
                    "raw": _raw(connection=connection, thread=thread, text=text),
                }
            },
        )
    )
    return {
        "draft_id": draft.get("id", ""),
        "thread_id": thread_id,
        "text": text,
        "session_id": str(answer.session_id),
        "message_id": str(answer.pk),
    }

"""Writes: a member's Gmail connection (label and collection, sync, disconnect) and
"draft a reply" (a Gmail draft written by an assistant, never sent)."""

from __future__ import annotations

import base64
import logging
from email.message import EmailMessage

from django.db import transaction
from django_tenants.utils import tenant_context

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
    if connection.sync_status in (GmailSyncStatus.QUEUED, GmailSyncStatus.RUNNING):
        return connection
    connection.sync_status = GmailSyncStatus.QUEUED
    connection.sync_threads_done = connection.sync_threads_total = 0
    connection.save(
        update_fields=["sync_status", "sync_threads_done", "sync_threads_total", "updated_at"]
    )
    connection_id = str(connection.pk)
    transaction.on_commit(lambda: gmail_sync_task.delay(connection_id))
    return connection


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
    sent. The turn is an ordinary chat turn of the member (in their history, channel
    web, counted in usage)."""
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
                channel=Channel.WEB,
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

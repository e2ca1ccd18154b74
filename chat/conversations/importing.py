"""Importing an export: the upload stored, then a job that turns each conversation
into a chat session of the importing person (or API key).

Idempotent: a session is found again by (owner, source, the source's conversation
id) and a message by (session, the source's message id), so re-importing the same
export, or a newer export of the same account, adds only what is new. Each
conversation is written in its own transaction: a crash leaves whole conversations,
and the job (holding a lease) is taken over by the sweep and runs again, skipping
what is already there. A conversation that cannot be read is reported by its title
and field; the others are imported.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from assistants import selectors as assistant_selectors
from audit import services as audit
from audit.models import AuditAction
from chat.conversations import queue
from chat.conversations.formats import (
    SOURCES,
    ExportError,
    ExportLimits,
    ImportProblem,
    ParsedConversation,
    parse_export,
)
from chat.models import (
    ChatSession,
    ConversationImport,
    ImportStatus,
    Message,
    MessageStatus,
)
from core import events
from core.access import Caller
from core.dependencies import require_broker
from core.errors import PayloadTooLarge, ValidationFailed
from core.lookups import person
from core.tenancy import require_tenant_schema
from files import services as file_services

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 200_000  # longer imported messages are cut (and reported)
MAX_RESULTS = 1_000  # per-conversation results kept on the job (the counts are exact)
PROGRESS_SECONDS = 1.0
# While an import runs, the indexing task is sent once the first messages are committed
# and again at most this often, so another worker embeds them meanwhile (and they are
# searchable before the import ends); the indexing claims with SKIP LOCKED, so two runs
# never embed the same messages. The import's end sends it once more, as before.
INDEX_DURING_IMPORT_SECONDS = 5.0


def export_limits() -> ExportLimits:
    from knowledge_base.ingestion import extraction_limits

    archive = extraction_limits()
    max_bytes = settings.CONVERSATIONS_IMPORT_MAX_MB * 2**20
    return ExportLimits(
        max_bytes=max_bytes,
        max_zip_members=archive.max_zip_members,
        max_unpacked_bytes=max(archive.max_unpacked_mb * 2**20, max_bytes),
        max_compression_ratio=archive.max_compression_ratio,
        max_html_elements=archive.max_html_elements * 4,
        max_conversations=settings.CONVERSATIONS_IMPORT_MAX_CONVERSATIONS,
        gemini_gap=timedelta(minutes=settings.CONVERSATIONS_GEMINI_GAP_MINUTES),
    )


def _looks_like_an_export(name: str, data: bytes) -> bool:
    if data[:4] == b"PK\x03\x04":
        return True
    head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head[:1] in (b"[", b"{", b"<")


def import_assistant(caller: Caller, assistant_id):
    """The assistant asked for (one the caller may use), else the first active one."""
    only = caller.allowed_assistant_ids
    if assistant_id is None:
        assistant = (
            assistant_selectors.assistant_list(only_ids=only)
            .filter(is_active=True)
            .order_by("created_at")
            .first()
        )
        if assistant is None:
            raise ValidationFailed(fields={"assistant": ["Create an assistant first."]})
        return assistant
    try:
        return assistant_selectors.assistant_get(assistant_id=assistant_id, only_ids=only)
    except ObjectDoesNotExist:
        raise ValidationFailed(fields={"assistant": ["Unknown assistant."]}) from None


def conversations_import_create(
    *,
    caller: Caller,
    name: str,
    data: bytes,
    source: str | None,
    assistant_id=None,
    actor: audit.Actor | None = None,
    enqueue: bool = True,
) -> ConversationImport:
    """Store an uploaded export and queue its import. Refuses (nothing stored) a file
    over the limit (413), an empty one, one that is neither a zip nor JSON/HTML, an
    unknown source, or an assistant the caller cannot use."""
    require_tenant_schema()
    limit = settings.CONVERSATIONS_IMPORT_MAX_MB * 2**20
    if len(data) > limit:
        raise PayloadTooLarge(f"{name} is {len(data):,} bytes; the limit is {limit:,} bytes.")
    if source is not None and source not in SOURCES:
        raise ValidationFailed(fields={"source": [f"Use one of {', '.join(SOURCES)}."]})
    if not data.strip():
        raise ValidationFailed(fields={"file": ["The file is empty."]})
    if not _looks_like_an_export(name, data):
        raise ValidationFailed(
            fields={"file": ["Upload the export's .zip, or its conversations JSON (or HTML)."]}
        )
    assistant = import_assistant(caller, assistant_id)
    if enqueue:
        require_broker()
    file = None
    try:
        with transaction.atomic():
            file = file_services.file_create(
                name=name,
                data=data,
                content_type="application/octet-stream",
                user=person(caller.user),
            )
            job = ConversationImport.objects.create(
                created_by=person(caller.user),
                api_key_id=caller.api_key.pk if caller.api_key else None,
                assistant=assistant,
                source=source or "",
                file=file,
                file_name=name[:255],
            )
            audit.audit_record(
                actor=actor,
                action=AuditAction.CONVERSATIONS_IMPORTED,
                target=job,
                changes={"file": job.file_name, "source": source or "detect", "bytes": len(data)},
            )
            if enqueue:
                transaction.on_commit(lambda: _enqueue(job.pk))
    except BaseException:
        if file is not None:
            file_services.file_discard_bytes(file=file)
        raise
    return job


def _enqueue(import_id) -> None:
    queue.enqueue(queue.IMPORT, str(import_id))


# -- the job ----------------------------------------------------------------------


def _claim(import_id, owner: str) -> ConversationImport | None:
    """Take the job: pending, or running with an expired lease (its worker died)."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.CONVERSATIONS_IMPORT_LEASE_SECONDS)
    claimable = Q(status=ImportStatus.PENDING) | Q(
        status=ImportStatus.RUNNING, lease_expires_at__lt=now
    )
    with transaction.atomic():
        job = (
            ConversationImport.objects.select_for_update(skip_locked=True)
            .filter(claimable, pk=import_id)
            .first()
        )
        if job is None:
            return None
        job.status = ImportStatus.RUNNING
        job.lease_expires_at = lease
        job.started_at = job.started_at or now
        # A run taken over starts its counts again: what the first run wrote is found
        # and counted as already there.
        job.conversations_done = job.conversations_created = job.conversations_updated = 0
        job.messages_imported = job.messages_existing = 0
        job.problems, job.results = [], []
        job.save()
    return job


def _finish(job: ConversationImport, *, status: str, error: str = "") -> None:
    job.status = status
    job.error = error[:1000]
    job.finished_at = timezone.now()
    job.lease_expires_at = None
    job.save()
    if status == ImportStatus.COMPLETED:
        events.event_emit(
            type="conversation.imported",
            payload={
                "import_id": str(job.pk),
                "source": job.source,
                "conversations": job.conversations_created + job.conversations_updated,
                "messages": job.messages_imported,
            },
        )


@dataclass
class ConversationOutcome:
    session: ChatSession
    created: bool
    added: list[Message]
    existing: int
    problems: list[ImportProblem]


def conversation_import_run(
    *, import_id, owner: str = "", on_progress=None
) -> ConversationImport | None:
    """Run an import job (the task's body). Safe to run twice: a job another run holds
    is left alone; one whose run died is taken over and skips what is there."""
    require_tenant_schema()
    job = _claim(import_id, owner)
    if job is None:
        return None
    try:
        data = file_services.file_read(file=job.file) if job.file_id else b""
        source, parsed = parse_export(
            name=job.file_name, data=data, source=job.source or None, limits=export_limits()
        )
    except ExportError as error:
        _finish(job, status=ImportStatus.FAILED, error=str(error))
        return job
    except OSError as error:
        _finish(job, status=ImportStatus.FAILED, error=f"The stored file cannot be read: {error}")
        return job
    job.source = source
    job.conversations_total = len(parsed.conversations)
    job.problems = [p.as_dict() for p in parsed.problems]
    job.save(update_fields=["source", "conversations_total", "problems", "updated_at"])
    owner_filter = _owner(job)
    for conversation in parsed.conversations:
        try:
            with transaction.atomic():
                outcome = conversation_import_one(
                    conversation=conversation, source=source, job=job, owner=owner_filter
                )
        except (IntegrityError, ValueError) as error:
            # Another import of the same conversation won the race, or the database
            # refused a value: reported, the others go on.
            job.problems.append(
                ImportProblem(
                    conversation.title or conversation.source_id, "conversation", str(error)[:300]
                ).as_dict()
            )
            outcome = None
        _progress(job, conversation, outcome)
        if outcome is not None and outcome.added:
            _index_soon(job)
        if on_progress is not None:
            on_progress(job)
    _finish(job, status=ImportStatus.COMPLETED)
    transaction.on_commit(_after_import(job))
    return job


def _after_import(job: ConversationImport):
    def run():
        queue.enqueue(queue.INDEX)
        queue.enqueue(queue.ANALYZE_IMPORT, str(job.pk))

    return run


def _index_soon(job: ConversationImport) -> None:
    """Send the indexing task for the messages committed so far (INDEX_DURING_IMPORT_SECONDS)."""
    now = time.monotonic()
    if (
        now - getattr(job, "_indexed_at", -INDEX_DURING_IMPORT_SECONDS)
        >= INDEX_DURING_IMPORT_SECONDS
    ):
        job._indexed_at = now
        transaction.on_commit(lambda: queue.enqueue(queue.INDEX))


def _owner(job: ConversationImport) -> dict:
    if job.api_key_id is not None:
        return {"created_by": None, "api_key_id": job.api_key_id}
    return {"created_by_id": job.created_by_id, "api_key_id": None}


def _progress(job: ConversationImport, conversation: ParsedConversation, outcome) -> None:
    job.conversations_done += 1
    if outcome is not None:
        if outcome.created:
            job.conversations_created += 1
        elif outcome.added:
            job.conversations_updated += 1
        job.messages_imported += len(outcome.added)
        job.messages_existing += outcome.existing
        job.problems.extend(p.as_dict() for p in outcome.problems)
        if len(job.results) < MAX_RESULTS:
            job.results.append(
                {
                    "session_id": str(outcome.session.pk),
                    "source_id": conversation.source_id,
                    "title": outcome.session.title,
                    "added": len(outcome.added),
                    "existing": outcome.existing,
                    "created": outcome.created,
                }
            )
    # Progress is its own short write, seen by the dashboard while the job runs: at
    # most every PROGRESS_SECONDS (many small conversations would otherwise add a
    # write each), and always for the last one.
    now = time.monotonic()
    last = job.conversations_done == job.conversations_total
    if last or now - getattr(job, "_saved_at", 0.0) >= PROGRESS_SECONDS:
        job.lease_expires_at = timezone.now() + timedelta(
            seconds=settings.CONVERSATIONS_IMPORT_LEASE_SECONDS
        )
        job.save()
        job._saved_at = now


def _clean(text: str) -> str:
    return text.replace("\x00", "")


def _title(conversation: ParsedConversation) -> str:
    if conversation.title.strip():
        return _clean(conversation.title.strip())[:200]
    first = next((m.text for m in conversation.messages if m.role == "user"), "")
    return _clean(" ".join(first.split()))[:60] or "Imported conversation"


def _times(conversation: ParsedConversation) -> list[datetime]:
    """A time for every message in order (alternatives before the message they
    precede): the source's, or inferred from the one before when the source has
    none (ChatGPT writes null for some), always increasing so the order holds."""
    start = (
        conversation.created_at
        or next((m.created_at for m in conversation.messages if m.created_at), None)
        or timezone.now()
    )
    times, previous = [], start - timedelta(microseconds=1)
    for message in conversation.messages:
        for version in [*message.alternatives, message]:
            when = version.created_at or previous + timedelta(microseconds=1)
            if when <= previous:
                when = previous + timedelta(microseconds=1)
            times.append(when)
            previous = when
    return times


def conversation_import_one(
    *, conversation: ParsedConversation, source: str, job: ConversationImport, owner: dict
) -> ConversationOutcome:
    """Write one conversation (in the caller's transaction): its session found or made,
    the messages it does not have yet added in order, linked like this platform's own
    (an answer replies to its question; a regenerated answer's newer version names
    the older as ``parent``; an edited question keeps its first wording)."""
    problems: list[ImportProblem] = []
    session = (
        ChatSession.objects.select_for_update()
        .filter(source=source, source_id=conversation.source_id, **owner)
        .first()
    )
    created = session is None
    if created:
        session = ChatSession.objects.create(
            assistant=job.assistant,
            title=_title(conversation),
            source=source,
            source_id=conversation.source_id,
            source_created_at=conversation.created_at,
            source_updated_at=conversation.updated_at,
            source_model=conversation.model,
            # An imported conversation is over: it is analysed, not continued by the sweep.
            ended_at=timezone.now(),
            **owner,
        )
    known = dict(session.messages.exclude(source_id="").values_list("source_id", "id"))
    existing = 0
    new: list[Message] = []
    times = iter(_times(conversation))
    question_id = None
    for message in conversation.messages:
        previous_version = None
        for version in [*message.alternatives, message]:
            when = next(times)
            is_main = version is message
            if message.role == "user" and not is_main:
                continue  # an earlier wording: kept as the question's original_content
            if version.source_id in known:
                existing += 1
                previous_version = known[version.source_id]
                if is_main and message.role == "user":
                    question_id = previous_version
                continue
            text = _clean(version.text)
            if len(text) > MAX_MESSAGE_CHARS:
                problems.append(
                    ImportProblem(
                        session.title,
                        f"message {version.source_id}",
                        f"Cut to {MAX_MESSAGE_CHARS:,} characters (it had {len(text):,}).",
                    )
                )
                text = text[:MAX_MESSAGE_CHARS]
            row = Message(
                session=session,
                role=version.role,
                content=text,
                status=MessageStatus.COMPLETE,
                model=version.model,
                source_id=version.source_id,
                source_created_at=version.created_at,
                source_content_type=version.content_type,
                source_attachments=version.attachments,
                reply_to_id=question_id if version.role in ("assistant", "tool") else None,
                parent_id=previous_version if version.role == "assistant" else None,
            )
            row._imported_at = when
            if is_main and message.role == "user" and message.alternatives:
                row.is_edited = True
                row.original_content = _clean(message.alternatives[0].text)[:MAX_MESSAGE_CHARS]
                row.edited_at = when
            new.append(row)
            known[version.source_id] = row.pk
            previous_version = row.pk
            if is_main and message.role == "user":
                question_id = row.pk
    if new:
        Message.objects.bulk_create(new, batch_size=500)
        messages_set_times(new)
        last = max(m._imported_at for m in new)
        ChatSession.objects.filter(pk=session.pk).update(
            message_count=F("message_count") + len(new),
            last_message_at=last,
            source_updated_at=conversation.updated_at or F("source_updated_at"),
        )
    return ConversationOutcome(session, created, new, existing, problems)


def messages_set_times(messages: list[Message]) -> None:
    """``created_at`` is the time in the source (auto_now_add set it to now): one
    UPDATE from two arrays."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE chat_message AS m SET created_at = v.at "
            "FROM unnest(%s::uuid[], %s::timestamptz[]) AS v(id, at) WHERE m.id = v.id",
            [[m.pk for m in messages], [m._imported_at for m in messages]],
        )
    for message in messages:
        message.created_at = message._imported_at


def imports_resume_stalled() -> int:
    """Jobs whose worker died (lease expired) or whose task was lost (pending for
    longer than a lease) are queued again."""
    require_tenant_schema()
    now = timezone.now()
    stale = now - timedelta(seconds=settings.CONVERSATIONS_IMPORT_LEASE_SECONDS)
    ids = list(
        ConversationImport.objects.filter(
            Q(status=ImportStatus.RUNNING, lease_expires_at__lt=now)
            | Q(status=ImportStatus.PENDING, created_at__lt=stale)
        ).values_list("pk", flat=True)[:100]
    )
    for import_id in ids:
        _enqueue(import_id)
    return len(ids)

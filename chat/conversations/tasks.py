"""Conversation tasks: thin (load by id, call one service), safe to run twice."""

from celery import shared_task

from chat.conversations import analysis, importing, indexing, organize
from core.tasks import TenantTask
from core.tenancy import current_organization


@shared_task(name="chat.conversation_import", base=TenantTask, bind=True, acks_late=True)
def conversation_import_task(self, import_id: str) -> dict:
    """Import one uploaded export. Safe to run twice: the job is claimed under a lease
    and every conversation and message is keyed on the source's ids."""
    job = importing.conversation_import_run(import_id=import_id, owner=self.request.id or "")
    return {"status": job.status if job else "skipped"}


@shared_task(name="chat.messages_index", base=TenantTask, acks_late=True)
def messages_index_task(limit: int = 5_000) -> int:
    """Embed and index messages that have no search entry, ``limit`` per run; queues
    itself again while some remain. Batches are claimed with SKIP LOCKED."""
    done = indexing.messages_index_pending(organization=current_organization(), limit=limit)
    if done >= limit:
        messages_index_task.delay(limit)
    return done


@shared_task(name="chat.conversations_sweep", acks_late=True)
def conversations_sweep_task() -> dict:
    """Beat: in every organization, end idle conversations (and analyse them), queue
    imports whose worker died, and index messages no task reached."""
    return organize.conversations_sweep_everywhere(
        index=lambda: messages_index_task.delay(),
        analyze=lambda session_id: conversation_analyze_task.delay(str(session_id)),
        resume_imports=importing.imports_resume_stalled,
    )


@shared_task(name="chat.conversation_analyze", base=TenantTask, acks_late=True)
def conversation_analyze_task(session_id: str) -> dict:
    result = analysis.conversation_analyze_by_id(
        session_id=session_id, organization=current_organization()
    )
    return {"version": result.version if result else None}


@shared_task(name="chat.conversations_analyze_import", base=TenantTask, acks_late=True)
def conversations_analyze_import_task(import_id: str) -> int:
    """Analyse every conversation an import created or changed (one task each)."""
    session_ids = analysis.sessions_to_analyze_after_import(import_id=import_id)
    for session_id in session_ids:
        conversation_analyze_task.delay(str(session_id))
    return len(session_ids)

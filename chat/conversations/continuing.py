"""Continue a conversation with any assistant: a new chat session of the caller, with
the chosen assistant, whose history is the earlier conversation's.

The turns the person saw (questions and the latest answer to each: a regenerated
answer's older versions are left out, as the chat history leaves them out) are copied
into the new session with their original times, so the next question is answered
with them as context, and the chat shows them. The copies are marked
(``source_content_type`` "continued") and not indexed again: search finds them in
the conversation they came from. The new session names the old one
(``continued_from``); the old one is not changed.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from chat.conversations.importing import messages_set_times
from chat.models import ChatSession, ConversationSource, Message, MessageStatus, Role
from core.access import Caller
from core.errors import ValidationFailed
from core.lookups import person

CONTINUED = "continued"  # source_content_type of a copied turn
MAX_TURNS = 2_000  # the newest turns are kept (the model sees what fits its budget)


def _title(session: ChatSession) -> str:
    base = session.title or "Conversation"
    suffix = " (continued)"
    return base if base.endswith(suffix) else base[: 200 - len(suffix)] + suffix


def conversation_continue(*, caller: Caller, session: ChatSession, assistant) -> ChatSession:
    """Start the new session (the caller may see ``session``; ``assistant`` is one
    the caller may use) and copy the turns; returns it."""
    superseded = Message.objects.filter(session=session, parent__isnull=False).values("parent_id")
    turns = list(
        session.messages.filter(status=MessageStatus.COMPLETE, role__in=[Role.USER, Role.ASSISTANT])
        .exclude(id__in=superseded)
        .exclude(content="")
        .order_by("-created_at", "-id")
        .only("id", "role", "content", "created_at", "model", "source_attachments", "sources")[
            :MAX_TURNS
        ]
    )
    turns.reverse()
    if not turns:
        raise ValidationFailed(
            "The conversation has nothing to continue from.", code="empty_conversation"
        )
    now = timezone.now()
    with transaction.atomic():
        new = ChatSession.objects.create(
            assistant=assistant,
            created_by=person(caller.user),
            api_key_id=caller.api_key.pk if caller.api_key else None,
            channel="api" if caller.api_key else "web",
            title=_title(session),
            source=ConversationSource.PLATFORM,
            continued_from=session,
            tags=list(session.tags),
        )
        copies = []
        for turn in turns:
            copy = Message(
                session=new,
                role=turn.role,
                content=turn.content,
                status=MessageStatus.COMPLETE,
                model=turn.model,
                source_id=str(turn.pk),
                source_created_at=turn.created_at,
                source_content_type=CONTINUED,
                search_pending=False,  # found in the conversation it came from
                source_attachments=turn.source_attachments,
                sources=turn.sources,
            )
            copy._imported_at = turn.created_at
            copies.append(copy)
        # The answers reply to the question before them, as in a live session.
        question = None
        for copy in copies:
            if copy.role == Role.USER:
                question = copy
            elif question is not None:
                copy.reply_to_id = question.pk
        Message.objects.bulk_create(copies, batch_size=500)
        messages_set_times(copies)
        ChatSession.objects.filter(pk=new.pk).update(
            message_count=F("message_count") + len(copies), last_message_at=now
        )
    new.refresh_from_db()
    return new

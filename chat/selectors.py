"""Reads of chat sessions and messages, scoped by chat.access to what the caller may see."""

from django.contrib.postgres.search import SearchQuery
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from chat.access import sessions_visible
from chat.conversations.indexing import TEXT_SEARCH_CONFIG
from chat.models import ChatSession, Message, MessageSearchEntry
from chat.models import Role as MessageRole
from core.access import Caller
from core.lookups import parse_uuid
from files.models import File


def attachments_in_order() -> Prefetch:
    """A question's files in the order they were attached (uploaded), not newest first."""
    return Prefetch("attachments", queryset=File.objects.order_by("created_at", "id"))


def session_list(
    *,
    caller: Caller,
    assistant_id=None,
    archived: bool | None = None,
    search: str = "",
    source: str | None = None,
    tag: str | None = None,
    everyone: bool = False,
) -> QuerySet[ChatSession]:
    """A person's own conversations; with ``everyone``, every one they may see (an
    admin: every member's, read-only; others: their own and the shared ones). An API
    key's list is what it may see either way (chat.access)."""
    sessions = sessions_visible(caller=caller).select_related("created_by")
    if not everyone and caller.api_key is None:
        sessions = sessions.filter(created_by_id=caller.user.pk)
    if source:
        sessions = sessions.filter(source=source)
    if tag:
        sessions = sessions.filter(tags__contains=[tag])
    if assistant_id:
        sessions = sessions.filter(assistant_id=parse_uuid(assistant_id))
    if archived is not None:
        sessions = sessions.filter(is_archived=archived)
    if search:
        sessions = sessions.filter(Q(title__icontains=search) | _says(search))
    return sessions


def _says(search: str) -> Exists:
    """A conversation one of whose messages matches ``search`` as full text (the
    messages' search index, chat/conversations/indexing.py: stemmed words, quotes,
    ``-word`` and ``OR`` as a search box reads them)."""
    query = SearchQuery(search, config=TEXT_SEARCH_CONFIG, search_type="websearch")
    return Exists(MessageSearchEntry.objects.filter(session_id=OuterRef("pk"), search_vector=query))


def session_messages(*, session: ChatSession, newest_first: bool = False) -> QuerySet[Message]:
    """Oldest first; ``newest_first`` for a chat that shows the latest page and loads
    older ones on demand."""
    order = ("-created_at", "-id") if newest_first else ("created_at", "id")
    return (
        session.messages.order_by(*order)
        .select_related("assistant")
        .prefetch_related(attachments_in_order())
    )


def user_messages_since(*, since) -> int:
    """Messages people sent since ``since`` (the plan's monthly message quota)."""
    return Message.objects.filter(role=MessageRole.USER, created_at__gte=since).count()


def feedback_list(*, assistant_id=None, start=None, end=None) -> QuerySet[Message]:
    """Thumbs-down answers of the organization, newest rating first, with their question
    (``reply_to``), conversation, assistant and asker in the same query. ``start`` and
    ``end`` are days (UTC), both included. For the admins' feedback review: every
    conversation of the organization, whoever had it (as the admin's "everyone's" view)."""
    answers = Message.objects.filter(role=MessageRole.ASSISTANT, feedback_rating=-1)
    if assistant_id:
        answers = answers.filter(session__assistant_id=parse_uuid(assistant_id))
    if start is not None:
        answers = answers.filter(feedback_at__date__gte=start)
    if end is not None:
        answers = answers.filter(feedback_at__date__lte=end)
    return answers.select_related("reply_to", "session__assistant", "session__created_by").order_by(
        "-feedback_at", "-id"
    )

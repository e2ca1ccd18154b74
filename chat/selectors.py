"""Reads of chat sessions and messages, scoped to what the caller may see."""

from django.db.models import Q, QuerySet

from chat.models import ChatSession, Message
from chat.models import Role as MessageRole
from core.access import Role
from core.lookups import parse_uuid
from core.tenancy import require_tenant_schema
from users.models import Membership


def session_list(*, membership: Membership, assistant_id=None, archived: bool | None = None,
                 search: str = "", only_assistant_ids: list | None = None,
                 ) -> QuerySet[ChatSession]:  # fmt: skip
    """Admins see every session; others their own and the shared ones.
    ``only_assistant_ids``: the assistants an API key is restricted to."""
    require_tenant_schema()
    sessions = ChatSession.objects.select_related("assistant")
    if only_assistant_ids is not None:
        sessions = sessions.filter(assistant_id__in=only_assistant_ids)
    if membership.role != Role.ADMIN:
        sessions = sessions.filter(Q(created_by_id=membership.user_id) | Q(is_shared=True))
    if assistant_id:
        sessions = sessions.filter(assistant_id=parse_uuid(assistant_id))
    if archived is not None:
        sessions = sessions.filter(is_archived=archived)
    if search:
        sessions = sessions.filter(title__icontains=search)
    return sessions


def session_get(*, membership: Membership, session_id) -> ChatSession:
    return session_list(membership=membership).get(id=parse_uuid(session_id))


def session_messages(*, session: ChatSession) -> QuerySet[Message]:
    return session.messages.order_by("created_at", "id")


def message_get(*, membership: Membership, message_id) -> Message:
    sessions = session_list(membership=membership)
    return Message.objects.select_related("session__assistant").get(
        id=parse_uuid(message_id), session__in=sessions
    )


def user_messages_since(*, since) -> int:
    """Messages people sent since ``since`` (the plan's monthly message quota)."""
    return Message.objects.filter(role=MessageRole.USER, created_at__gte=since).count()

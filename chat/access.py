"""Who may see and change which chat sessions and messages: the one place that says.

Every chat view, the chat socket and the chat service fetch sessions and messages
through these helpers, never with ``objects.get(pk=...)``:

- people: an admin sees every session; others their own and the shared ones;
- API keys: a key with the ``admin`` scope sees every session, any other key only
  the sessions created through it (``ChatSession.api_key_id``);
- a key restricted to some assistants sees nothing of the others' sessions.

Whatever the caller may not see answers "not found", exactly as a missing id does.
Changing a session (writing into it, rename, archive, delete, rate, edit, regenerate)
is for its owner (the person or the key that created it), and for API keys with the
``admin`` scope (programs that manage every session). An admin *person* reads every
member's conversations (under the "everyone's" filter of the sessions list) but may not
write into them: someone else's conversation, shared or not, is read-only (403).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet

from chat.models import ChatSession, ConversationImport, Message
from core.access import Caller
from core.lookups import parse_uuid
from core.tenancy import require_tenant_schema


def sessions_visible(*, caller: Caller) -> QuerySet[ChatSession]:
    """The sessions ``caller`` may see (fails closed: none for a non-member)."""
    require_tenant_schema()
    sessions = ChatSession.objects.select_related("assistant")
    if caller.membership is None:
        return sessions.none()
    only = caller.allowed_assistant_ids
    if only is not None:
        sessions = sessions.filter(assistant_id__in=only)
    if caller.is_admin:
        return sessions
    if caller.api_key is not None:
        return sessions.filter(api_key_id=caller.api_key.pk)
    return sessions.filter(Q(created_by_id=caller.user.pk) | Q(is_shared=True))


def session_is_owned_by(session: ChatSession, caller: Caller) -> bool:
    if caller.api_key is not None:
        return session.api_key_id == caller.api_key.pk
    return session.created_by_id is not None and session.created_by_id == caller.user.pk


def _check_change(session: ChatSession, caller: Caller) -> None:
    if session_is_owned_by(session, caller):
        return
    if caller.is_admin and caller.api_key is not None:
        return  # an admin-scoped program manages every session
    raise PermissionDenied(
        "This conversation belongs to someone else: you can read it but not change it or write in it."
    )


def access_session(*, caller: Caller, session_id, for_change: bool = False) -> ChatSession:
    """The session if ``caller`` may see it (and change it, with ``for_change``);
    ChatSession.DoesNotExist alike for a missing and an invisible one."""
    session = sessions_visible(caller=caller).get(id=parse_uuid(session_id))
    if for_change:
        _check_change(session, caller)
    return session


def check_may_write(*, caller: Caller, session_id) -> None:
    """Refuses (403) a new question into a visible session that is not the caller's to
    write in; a session the caller cannot see is left for the turn to answer "unknown"."""
    session = sessions_visible(caller=caller).filter(id=parse_uuid(session_id)).first()
    # A Slack or Teams thread is refused by the turn, with its own reason ("reply there").
    if session is not None and session.channel not in ("slack", "teams"):
        _check_change(session, caller)


def access_message(*, caller: Caller, message_id, for_change: bool = False) -> Message:
    """A message of a session ``caller`` may see (and change, with ``for_change``)."""
    message = Message.objects.select_related("session__assistant").get(
        id=parse_uuid(message_id), session__in=sessions_visible(caller=caller)
    )
    if for_change:
        _check_change(message.session, caller)
    return message


def imports_visible(*, caller: Caller) -> QuerySet[ConversationImport]:
    """Conversation imports: a person's own (a key's own); an admin's, all of them."""
    require_tenant_schema()
    imports = ConversationImport.objects.select_related("assistant")
    if caller.membership is None:
        return imports.none()
    if caller.is_admin:
        return imports
    if caller.api_key is not None:
        return imports.filter(api_key_id=caller.api_key.pk)
    return imports.filter(created_by_id=caller.user.pk)


def access_import(*, caller: Caller, import_id) -> ConversationImport:
    return imports_visible(caller=caller).get(id=parse_uuid(import_id))

"""The generic format, for anything else a person can convert to it:

    [{"id"?, "title", "create_time", "turns": [{"id"?, "role", "text", "timestamp"}]}]

``create_time`` and ``timestamp`` are epoch seconds or ISO 8601. Without an ``id``
a conversation is known by its title and start time, a turn by its position: a
re-import of the same file (or of a longer version of it) adds only the new turns.
"""

from __future__ import annotations

from chat.conversations.formats.base import (
    ROLES,
    ConversationProblem,
    ParsedConversation,
    ParsedMessage,
    label_of,
    stable_id,
    text_field,
    timestamp,
)

ROLE_ALIASES = {"human": "user", "ai": "assistant", "bot": "assistant", "model": "assistant"}


def parse_conversation(item) -> tuple[ParsedConversation, int]:
    if not isinstance(item, dict):
        raise ConversationProblem("conversation", "Each conversation must be an object.")
    title = text_field(item.get("title"), "title")
    created = timestamp(item.get("create_time"), "create_time")
    turns = item.get("turns")
    if not isinstance(turns, list):
        raise ConversationProblem("turns", "turns must be a list.")
    source_id = item.get("id")
    if source_id is not None and not isinstance(source_id, str | int):
        raise ConversationProblem("id", "id must be text or a number.")
    source_id = (
        str(source_id) if source_id is not None else stable_id(title, item.get("create_time"))
    )
    messages, skipped = [], 0
    for position, turn in enumerate(turns):
        field = f"turns[{position}]"
        if not isinstance(turn, dict):
            raise ConversationProblem(field, "A turn must be an object.")
        role = turn.get("role")
        role = ROLE_ALIASES.get(role, role) if isinstance(role, str) else role
        if role not in ROLES:
            raise ConversationProblem(f"{field}.role", f"Unknown role {turn.get('role')!r}.")
        text = text_field(turn.get("text"), f"{field}.text", required=True)
        if not text.strip():
            skipped += 1
            continue
        turn_id = turn.get("id")
        messages.append(
            ParsedMessage(
                source_id=str(turn_id if turn_id is not None else position)[:200],
                role=role,
                text=text,
                created_at=timestamp(turn.get("timestamp"), f"{field}.timestamp"),
                model=str(turn.get("model") or "")[:120],
            )
        )
    conversation = ParsedConversation(
        source_id=source_id[:200],
        title=title[:200],
        created_at=created,
        updated_at=timestamp(item.get("update_time"), "update_time"),
        messages=messages,
    )
    return conversation, skipped


def label(item, position: int) -> str:
    return label_of(item, position, "title", "id")

"""What every importer produces: conversations of messages, and the problems it met.

A parser never raises for one bad conversation: it reports the conversation (its
title or id, else its position) and the field, and goes on with the others. Only a
file that is not an export at all (not JSON, not a list) raises ``ExportError``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

ROLES = ("user", "assistant", "system", "tool")


class ExportError(ValueError):
    """The file is not an export of the declared kind (or breaks a limit)."""


@dataclass
class ParsedMessage:
    source_id: str
    role: str  # one of ROLES
    text: str
    created_at: datetime | None = None
    model: str = ""
    # What the source called the content: text, code, execution_output, tether_quote...
    content_type: str = "text"
    # Non-text parts (images, files): noted, never fetched: [{"kind", "name", ...}].
    attachments: list[dict] = field(default_factory=list)
    # Earlier versions of this message in the source: regenerated answers (for an
    # answer) or the first wording of an edited question (for a question), oldest first.
    alternatives: list[ParsedMessage] = field(default_factory=list)


@dataclass
class ParsedConversation:
    source_id: str
    title: str
    created_at: datetime | None
    updated_at: datetime | None
    messages: list[ParsedMessage]

    @property
    def model(self) -> str:
        models = [m.model for m in self.messages if m.model]
        return models[-1] if models else ""


@dataclass(frozen=True)
class ImportProblem:
    conversation: str  # its title or id, else "#<position>"
    field: str
    message: str

    def as_dict(self) -> dict:
        return {"conversation": self.conversation, "field": self.field, "message": self.message}


@dataclass
class ParseResult:
    conversations: list[ParsedConversation] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)


class ConversationProblem(Exception):
    """Raised inside one conversation's parse: reported, the others go on."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def timestamp(value, field: str) -> datetime | None:
    """Epoch seconds (int/float, as ChatGPT writes) or ISO 8601 (Claude, Gemini); None
    stays None (ChatGPT leaves some create_time null)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ConversationProblem(field, f"{field} is not a time: {value!r}.")
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(float(value), tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ConversationProblem(field, f"{field} is out of range: {value!r}.") from None
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ConversationProblem(field, f"{field} is not a time: {value[:40]!r}.") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ConversationProblem(field, f"{field} is not a time: {type(value).__name__}.")


def text_field(value, field: str, *, required: bool = False) -> str:
    if value is None:
        if required:
            raise ConversationProblem(field, f"{field} is missing.")
        return ""
    if not isinstance(value, str):
        raise ConversationProblem(field, f"{field} must be text, not {type(value).__name__}.")
    return value


def label_of(item, position: int, *keys: str) -> str:
    """How a report names a conversation: its title, else its id, else its position."""
    if isinstance(item, dict):
        for key in keys:
            value = item.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()[:120]
    return f"#{position + 1}"


def stable_id(*parts) -> str:
    """An id for sources that have none (Gemini, generic JSON without ids): the same
    content gives the same id, so a re-import finds what it imported before."""
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:32]

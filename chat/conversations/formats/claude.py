"""Claude exports: ``conversations.json``, an array of conversations with ``uuid``,
``name``, ``created_at``/``updated_at`` (ISO 8601) and ``chat_messages`` in order.

A message's text is its ``text``, or its ``content`` blocks' text when ``text`` is
empty; tool use and tool results are kept as text with their kind; ``attachments``
(pasted or uploaded files, with ``extracted_content``) and ``files`` are noted as
attachments, with the start of the extracted text so that it can be searched.
"""

from __future__ import annotations

from chat.conversations.formats.base import (
    ConversationProblem,
    ParsedConversation,
    ParsedMessage,
    label_of,
    text_field,
    timestamp,
)

ATTACHMENT_EXCERPT_CHARS = 2_000
SENDERS = {"human": "user", "user": "user", "assistant": "assistant"}


def _blocks_text(blocks, field: str) -> tuple[str, str]:
    if not isinstance(blocks, list):
        raise ConversationProblem(field, "content must be a list of blocks.")
    texts, kinds = [], set()
    for block in blocks:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
            kinds.add("text")
        elif kind == "tool_use":
            texts.append(f"[tool use: {block.get('name') or 'tool'}]")
            kinds.add("tool_use")
        elif kind == "tool_result":
            inner = block.get("content")
            if isinstance(inner, list):
                texts.append(_blocks_text(inner, field)[1])
            elif isinstance(inner, str):
                texts.append(inner)
            kinds.add("tool_result")
        elif kind == "thinking" and isinstance(block.get("thinking"), str):
            kinds.add("thinking")  # the model's scratchpad: not part of the answer
    kind = "text" if kinds <= {"text", "thinking"} else "+".join(sorted(kinds))
    return kind, "\n".join(t for t in texts if t)


def _attachments(message: dict, field: str) -> list[dict]:
    noted = []
    for item in message.get("attachments") or []:
        if not isinstance(item, dict):
            raise ConversationProblem(f"{field}.attachments", "An attachment must be an object.")
        extracted = item.get("extracted_content")
        noted.append(
            {
                "kind": "file",
                "name": str(item.get("file_name") or "")[:300],
                "file_type": str(item.get("file_type") or "")[:100],
                "size": item.get("file_size") if isinstance(item.get("file_size"), int) else None,
                "excerpt": extracted[:ATTACHMENT_EXCERPT_CHARS]
                if isinstance(extracted, str)
                else "",
            }
        )
    for item in message.get("files") or []:
        if isinstance(item, dict):
            noted.append({"kind": "file", "name": str(item.get("file_name") or "")[:300]})
    return noted


def parse_conversation(item) -> tuple[ParsedConversation, int]:
    if not isinstance(item, dict):
        raise ConversationProblem("conversation", "Each conversation must be an object.")
    source_id = item.get("uuid")
    if not isinstance(source_id, str) or not source_id:
        raise ConversationProblem("uuid", "The conversation has no uuid.")
    raw = item.get("chat_messages")
    if not isinstance(raw, list):
        raise ConversationProblem("chat_messages", "chat_messages must be a list.")
    messages, skipped = [], 0
    for position, message in enumerate(raw):
        field = f"chat_messages[{position}]"
        if not isinstance(message, dict):
            raise ConversationProblem(field, "A message must be an object.")
        sender = message.get("sender")
        if sender not in SENDERS:
            raise ConversationProblem(f"{field}.sender", f"Unknown sender {sender!r}.")
        text = text_field(message.get("text"), f"{field}.text")
        kind = "text"
        if "content" in message and message["content"] is not None:
            kind, from_blocks = _blocks_text(message["content"], f"{field}.content")
            text = text if text.strip() else from_blocks
        attachments = _attachments(message, field)
        if not text.strip() and not attachments:
            skipped += 1
            continue
        message_id = message.get("uuid")
        messages.append(
            ParsedMessage(
                source_id=str(message_id or f"{source_id}:{position}")[:200],
                role=SENDERS[sender],
                text=text,
                created_at=timestamp(message.get("created_at"), f"{field}.created_at"),
                content_type=kind[:40],
                attachments=attachments,
            )
        )
    conversation = ParsedConversation(
        source_id=source_id[:200],
        title=text_field(item.get("name"), "name")[:200],
        created_at=timestamp(item.get("created_at"), "created_at"),
        updated_at=timestamp(item.get("updated_at"), "updated_at"),
        messages=messages,
    )
    return conversation, skipped


def label(item, position: int) -> str:
    return label_of(item, position, "name", "uuid")

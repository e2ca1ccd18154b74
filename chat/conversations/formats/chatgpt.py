"""ChatGPT exports: ``conversations.json``, an array of conversations whose messages
form a tree (``mapping``: node id -> ``{message, parent, children}``).

The conversation the person saw is the path from ``current_node`` up through the
parents to the root. The other branches are edits and regenerations: a sibling
answer of an answer on the path is a regeneration (kept as an earlier version, as
this platform's own regenerate keeps one), a sibling question of a question on the
path is an earlier wording (kept as the question's original wording). Deeper turns
of abandoned branches are not imported (they are counted in the report).
Hidden and empty system nodes are skipped; tool and code output are kept with
their content type; images and files are noted as attachments (never fetched).
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

MAX_DEPTH = 100_000  # a path longer than this is a cycle or a hostile file


def _part_text(part, attachments: list[dict]) -> str:
    if isinstance(part, str):
        return part
    if isinstance(part, dict):
        kind = part.get("content_type") or "file"
        if isinstance(part.get("text"), str) and kind in {"audio_transcription", "text"}:
            return part["text"]
        name = part.get("asset_pointer") or part.get("name") or part.get("file_name") or ""
        attachment = {"kind": str(kind)[:60], "name": str(name)[:300]}
        for key in ("width", "height", "size_bytes", "mime_type"):
            if key in part and isinstance(part[key], int | str):
                attachment[key] = part[key]
        attachments.append(attachment)
    return ""


def _content(content: dict, attachments: list[dict]) -> tuple[str, str]:
    """(content type, text) of a message's ``content``."""
    if not isinstance(content, dict):
        raise ConversationProblem("content", "content must be an object.")
    kind = content.get("content_type") or "text"
    if not isinstance(kind, str):
        raise ConversationProblem("content.content_type", "content_type must be text.")
    if "parts" in content:
        parts = content["parts"]
        if not isinstance(parts, list):
            raise ConversationProblem("content.parts", "parts must be a list.")
        text = "\n".join(t for t in (_part_text(p, attachments) for p in parts) if t)
        return kind, text
    if kind == "tether_quote":
        title = content.get("title") or ""
        url = content.get("url") or ""
        quote = content.get("text") or ""
        head = " ".join(x for x in (str(title), f"<{url}>" if url else "") if x)
        return kind, f"{head}\n{quote}".strip() if head else str(quote)
    for key in ("text", "result"):
        if isinstance(content.get(key), str):
            return kind, content[key]
    return kind, ""


def _message(node_id: str, node: dict) -> ParsedMessage | None:
    message = node.get("message")
    if message is None:
        return None  # the root (and some client-created nodes) carry no message
    if not isinstance(message, dict):
        raise ConversationProblem(f"mapping.{node_id}.message", "message must be an object.")
    author = message.get("author") or {}
    role = author.get("role") if isinstance(author, dict) else None
    if role not in {"system", "user", "assistant", "tool"}:
        raise ConversationProblem(
            f"mapping.{node_id}.message.author.role", f"Unknown author role {role!r}."
        )
    metadata = message.get("metadata") or {}
    if not isinstance(metadata, dict):
        metadata = {}
    attachments: list[dict] = []
    try:
        kind, text = _content(message.get("content") or {}, attachments)
    except ConversationProblem as problem:
        raise ConversationProblem(
            f"mapping.{node_id}.message.{problem.field}", problem.message
        ) from None
    for item in metadata.get("attachments") or []:
        if isinstance(item, dict):
            attachments.append(
                {"kind": "file", "name": str(item.get("name") or item.get("id") or "")[:300]}
            )
    hidden = bool(metadata.get("is_visually_hidden_from_conversation"))
    if kind in {"user_editable_context", "model_editable_context"}:
        hidden = True  # custom instructions and memory: context, not conversation
    if hidden or (role == "system" and not text.strip()):
        return None
    if not text.strip() and not attachments:
        return None
    model = metadata.get("model_slug") or ""
    return ParsedMessage(
        source_id=str(message.get("id") or node_id)[:200],
        role=role,
        text=text,
        created_at=timestamp(message.get("create_time"), f"mapping.{node_id}.create_time"),
        model=model[:120] if isinstance(model, str) else "",
        content_type=kind[:40],
        attachments=attachments,
    )


def _path(mapping: dict, current: str) -> list[str]:
    path, seen = [], set()
    node_id = current
    while node_id is not None:
        if node_id in seen or len(path) > MAX_DEPTH:
            raise ConversationProblem("mapping", "The message tree has a cycle.")
        node = mapping.get(node_id)
        if not isinstance(node, dict):
            raise ConversationProblem(f"mapping.{node_id}", "A parent node is missing.")
        seen.add(node_id)
        path.append(node_id)
        node_id = node.get("parent")
    path.reverse()
    return path


def _last_leaf(mapping: dict) -> str:
    """Without ``current_node``: the newest leaf (what the app would open)."""
    leaves = [k for k, v in mapping.items() if isinstance(v, dict) and not v.get("children")]
    if not leaves:
        raise ConversationProblem("current_node", "current_node is missing and no leaf exists.")

    def created(key):
        message = mapping[key].get("message") or {}
        value = message.get("create_time") if isinstance(message, dict) else None
        return value if isinstance(value, int | float) else 0

    return max(leaves, key=lambda k: (created(k), k))


def parse_conversation(item) -> tuple[ParsedConversation, int]:
    """One conversation, and how many messages of abandoned branches were left out."""
    if not isinstance(item, dict):
        raise ConversationProblem("conversation", "Each conversation must be an object.")
    source_id = item.get("conversation_id") or item.get("id")
    if not isinstance(source_id, str) or not source_id:
        raise ConversationProblem("id", "The conversation has no id (conversation_id or id).")
    mapping = item.get("mapping")
    if not isinstance(mapping, dict) or not mapping:
        raise ConversationProblem("mapping", "mapping is missing or empty.")
    current = item.get("current_node")
    if current is None:
        current = _last_leaf(mapping)
    if not isinstance(current, str) or current not in mapping:
        raise ConversationProblem("current_node", "current_node is not a node of mapping.")
    path = _path(mapping, current)
    on_path = set(path)
    messages: list[ParsedMessage] = []
    for position, node_id in enumerate(path):
        message = _message(node_id, mapping[node_id])
        if message is None:
            continue
        if position > 0:
            parent = mapping[path[position - 1]]
            for sibling_id in parent.get("children") or []:
                if sibling_id in on_path or not isinstance(mapping.get(sibling_id), dict):
                    continue
                sibling = _message(sibling_id, mapping[sibling_id])
                if sibling is not None and sibling.role == message.role:
                    message.alternatives.append(sibling)
            message.alternatives.sort(key=lambda m: (m.created_at is None, m.created_at or 0))
        messages.append(message)
    kept = len(messages) + sum(len(m.alternatives) for m in messages)
    total = sum(
        1
        for node in mapping.values()
        if isinstance(node, dict) and isinstance(node.get("message"), dict)
    )
    conversation = ParsedConversation(
        source_id=source_id[:200],
        title=text_field(item.get("title"), "title")[:200],
        created_at=timestamp(item.get("create_time"), "create_time"),
        updated_at=timestamp(item.get("update_time"), "update_time"),
        messages=messages,
    )
    return conversation, max(total - kept, 0)


def label(item, position: int) -> str:
    return label_of(item, position, "title", "conversation_id", "id")

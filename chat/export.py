"""A session as JSON or Markdown, for download."""

from chat.models import ChatSession, MessageStatus
from chat.selectors import attachments_in_order


def session_as_dict(session: ChatSession) -> dict:
    messages = (
        session.messages.order_by("created_at", "id")
        .select_related("assistant")
        .prefetch_related(attachments_in_order())
    )
    return {
        "session": {
            "id": str(session.id),
            "title": session.title,
            "assistant": session.assistant.name,
            "created_at": session.created_at.isoformat(),
            "message_count": session.message_count,
            "total_tokens": session.total_tokens,
            "total_cost": str(session.total_cost),
        },
        "messages": [
            {
                "id": str(m.id),
                "role": m.role,
                "content": m.content,
                "status": m.status,
                "created_at": m.created_at.isoformat(),
                "assistant": m.assistant.name if m.assistant is not None else None,
                "model": m.model,
                "reply_to": str(m.reply_to_id) if m.reply_to_id else None,
                "parent": str(m.parent_id) if m.parent_id else None,
                "total_tokens": m.total_tokens,
                "cost": str(m.cost),
                "sources": m.sources,
                "attachments": [
                    {
                        "id": str(f.id),
                        "name": f.name,
                        "content_type": f.content_type,
                        "size": f.size,
                    }
                    for f in m.attachments.all()
                ],
                "context_omitted": m.context_omitted,
            }
            for m in messages
        ],
    }


def _answers_by_question(messages: list) -> dict:
    """Each question's answers, oldest first (regenerated versions follow the first)."""
    answers: dict = {}
    for message in messages:
        if message.role == "assistant" and message.reply_to_id is not None:
            answers.setdefault(message.reply_to_id, []).append(message)
    return answers


def _cited_lines(message) -> list[str]:
    """The answer's cited sources, one line per document and page: several cited
    passages of one page are one line with their numbers ("[1], [3] Handbook")."""
    grouped: dict = {}
    for source in message.sources:
        if not source.get("cited"):
            continue
        key = (source.get("document_title", ""), source.get("page"), bool(source.get("file_id")))
        grouped.setdefault(key, []).append(source["index"])
    lines = []
    for (title, page, attached), numbers in grouped.items():
        where = f", page {page}" if page else ""
        kind = " (attached file)" if attached else ""
        lines.append(f"- {', '.join(f'[{n}]' for n in numbers)} {title}{where}{kind}")
    return lines


def _message_lines(message, who: str) -> list[str]:
    lines = [f"## {who}", "", message.content or "_(no text)_", ""]
    attached = [f.name for f in message.attachments.all()]
    if attached:
        lines += ["Attached: " + ", ".join(attached), ""]
    if message.status != MessageStatus.COMPLETE:
        lines += [f"_({message.status})_", ""]
    cited = _cited_lines(message)
    if cited:
        lines += ["Sources:", *cited, ""]
    return lines


def session_as_markdown(session: ChatSession) -> str:
    """The conversation as it reads on screen: each question followed by its answer
    (the latest version; earlier versions right below it, marked), each answer named
    after the assistant that gave it."""
    messages = list(
        session.messages.order_by("created_at", "id")
        .select_related("assistant")
        .prefetch_related(attachments_in_order())
    )
    names = list(dict.fromkeys(m.assistant.name for m in messages if m.assistant is not None))
    label = "Assistants" if len(names) > 1 else "Assistant"
    lines = [
        f"# {session.title or 'Chat'}",
        "",
        f"{label}: {', '.join(names) or session.assistant.name}  ",
        f"Started: {session.created_at:%Y-%m-%d %H:%M} UTC",
        "",
    ]
    answers = _answers_by_question(messages)

    def who(answer) -> str:
        return answer.assistant.name if answer.assistant is not None else session.assistant.name

    for message in messages:
        if message.role == "user":
            lines += _message_lines(message, "You")
            versions = answers.get(message.id, [])
            if versions:
                lines += _message_lines(versions[-1], who(versions[-1]))
            for number, earlier in enumerate(versions[:-1], start=1):
                heading = f"{who(earlier)} (earlier answer, version {number} of {len(versions)})"
                lines += _message_lines(earlier, heading)
        elif message.reply_to_id is None:  # an answer to no question (imported)
            lines += _message_lines(message, who(message))
    return "\n".join(lines)

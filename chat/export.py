"""A session as JSON or Markdown, for download."""

from chat.models import ChatSession, MessageStatus
from chat.selectors import attachments_in_order


def session_as_dict(session: ChatSession) -> dict:
    messages = session.messages.order_by("created_at", "id").prefetch_related(
        attachments_in_order()
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
                "model": m.model,
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


def session_as_markdown(session: ChatSession) -> str:
    lines = [
        f"# {session.title or 'Chat'}",
        "",
        f"Assistant: {session.assistant.name}  ",
        f"Started: {session.created_at:%Y-%m-%d %H:%M} UTC",
        "",
    ]
    for message in session.messages.order_by("created_at", "id").prefetch_related(
        attachments_in_order()
    ):
        who = "You" if message.role == "user" else session.assistant.name
        lines += [f"## {who}", "", message.content or "_(no text)_", ""]
        attached = [f.name for f in message.attachments.all()]
        if attached:
            lines += ["Attached: " + ", ".join(attached), ""]
        if message.status != MessageStatus.COMPLETE:
            lines += [f"_({message.status})_", ""]
        cited = [s for s in message.sources if s.get("cited")]
        if cited:
            lines.append("Sources:")
            for source in cited:
                page = f", page {source['page']}" if source.get("page") else ""
                kind = " (attached file)" if source.get("file_id") else ""
                lines.append(f"- [{source['index']}] {source['document_title']}{page}{kind}")
            lines.append("")
    return "\n".join(lines)

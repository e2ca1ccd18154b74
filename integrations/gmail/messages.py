"""Gmail's JSON (users.threads.get, format=full) read as text: one thread, one document."""

from __future__ import annotations

import base64
import email.utils
from dataclasses import dataclass
from datetime import UTC, datetime

from django.utils.html import strip_tags


def _header(message: dict, name: str) -> str:
    for header in (message.get("payload") or {}).get("headers") or []:
        if header.get("name", "").lower() == name.lower():
            return header.get("value", "")
    return ""


def _decode(data: str) -> str:
    padded = data + "=" * (-len(data) % 4)
    return base64.urlsafe_b64decode(padded.encode()).decode("utf-8", errors="replace")


def _parts(part: dict):
    yield part
    for child in part.get("parts") or []:
        yield from _parts(child)


def message_body(message: dict) -> str:
    """The text/plain body; the text of the text/html one when there is none."""
    parts = list(_parts(message.get("payload") or {}))
    for kind in ("text/plain", "text/html"):
        texts = [
            _decode(p["body"]["data"])
            for p in parts
            if p.get("mimeType") == kind and (p.get("body") or {}).get("data")
        ]
        if texts:
            text = "\n".join(texts)
            return strip_tags(text) if kind == "text/html" else text
    return message.get("snippet", "")


def message_date(message: dict) -> datetime | None:
    raw = _header(message, "Date")
    if raw:
        try:
            parsed = email.utils.parsedate_to_datetime(raw)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except (TypeError, ValueError):
            pass
    internal = message.get("internalDate")
    if internal and str(internal).isdigit():
        return datetime.fromtimestamp(int(internal) / 1000, tz=UTC)
    return None


@dataclass(frozen=True)
class ThreadDocument:
    title: str
    text: str
    metadata: dict


def in_label(thread: dict, label_id: str) -> bool:
    return any(label_id in (m.get("labelIds") or []) for m in thread.get("messages") or [])


def thread_document(thread: dict, *, mailbox: str) -> ThreadDocument:
    messages = thread.get("messages") or []
    first, last = messages[0], messages[-1]
    subject = _header(first, "Subject").strip() or "(no subject)"
    blocks = [f"# {subject}"]
    for message in messages:
        date = message_date(message)
        lines = [
            f"From: {_header(message, 'From')}",
            f"To: {_header(message, 'To')}",
            f"Date: {date.isoformat() if date else _header(message, 'Date')}",
            "",
            message_body(message).strip(),
        ]
        blocks.append("\n".join(lines))
    last_date = message_date(last)
    return ThreadDocument(
        title=subject[:300],
        text="\n\n---\n\n".join(blocks),
        metadata={
            "source": "gmail",
            "mailbox": mailbox,
            "gmail_thread_id": thread["id"],
            "subject": subject,
            "sender": _header(first, "From"),
            "date": last_date.isoformat() if last_date else "",
            "messages": len(messages),
        },
    )


def reply_headers(thread: dict) -> dict:
    """Who and what a reply to the thread's last message goes to."""
    last = (thread.get("messages") or [{}])[-1]
    subject = _header(last, "Subject") or _header(thread["messages"][0], "Subject")
    if not subject.lower().startswith("re:"):
        subject = f"Re: {subject}"
    message_id = _header(last, "Message-ID") or _header(last, "Message-Id")
    references = " ".join(x for x in (_header(last, "References"), message_id) if x)
    return {
        "to": _header(last, "Reply-To") or _header(last, "From"),
        "subject": subject,
        "in_reply_to": message_id,
        "references": references,
    }

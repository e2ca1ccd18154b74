"""Gemini Apps activity from Google Takeout: ``My Activity/Gemini Apps/MyActivity.json``
(or ``MyActivity.html``): one record per prompt, newest first, with no conversation id.

A record whose title starts with "Prompted" is a turn: the prompt is the rest of the
title, the answer is the record's HTML (``safeHtmlItem``), converted to text. Other
records (feedback, settings) are not turns and are skipped.

Grouping rule (documented in docs/conversations.md): records are sorted by time and a
new conversation starts when more than ``gap`` (CONVERSATIONS_GEMINI_GAP_MINUTES,
default 30 minutes) passed since the previous prompt. A conversation is known by the
time of its first prompt and a turn by its time and text, so a newer export of the
same account adds only the new turns (to the conversation they continue, when they
follow it within the gap).
"""

from __future__ import annotations

import re
import warnings
from datetime import UTC, datetime, timedelta

from chat.conversations.formats.base import (
    ConversationProblem,
    ExportError,
    ImportProblem,
    ParsedConversation,
    ParsedMessage,
    ParseResult,
    stable_id,
    timestamp,
)

PROMPT_PREFIXES = ("Prompted ", "Prompted\xa0")
_SPACES = re.compile(r"[ \t\u00a0\u202f]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def html_to_text(html: str, *, max_elements: int) -> str:
    from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning

    if html.count("<") > max_elements:
        raise ConversationProblem(
            "safeHtmlItem", f"The answer has more than {max_elements:,} HTML elements."
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style"]):
        tag.decompose()
    for tag in soup.find_all(["br"]):
        tag.replace_with("\n")
    for tag in soup.find_all(["p", "li", "div", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "tr"]):
        tag.insert_after("\n")
    for tag in soup.find_all("li"):
        tag.insert(0, "- ")
    text = soup.get_text()
    lines = [_SPACES.sub(" ", line).strip() for line in text.splitlines()]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _turns_from_json(records, *, max_elements: int, result: ParseResult) -> list[tuple]:
    if not isinstance(records, list):
        raise ExportError("MyActivity.json must be a list of activity records.")
    turns = []
    for position, record in enumerate(records):
        label = f"record #{position + 1}"
        if not isinstance(record, dict):
            result.problems.append(ImportProblem(label, "record", "A record must be an object."))
            continue
        title = record.get("title")
        if not isinstance(title, str) or not title.startswith(PROMPT_PREFIXES):
            continue  # not a prompt (feedback, a setting changed...)
        prompt = title[len("Prompted ") :].strip()
        try:
            when = timestamp(record.get("time"), "time")
            if when is None:
                raise ConversationProblem("time", "time is missing.")
            items = record.get("safeHtmlItem") or []
            if not isinstance(items, list):
                raise ConversationProblem("safeHtmlItem", "safeHtmlItem must be a list.")
            html = "\n".join(i.get("html", "") for i in items if isinstance(i, dict))
            answer = html_to_text(html, max_elements=max_elements) if html else ""
        except ConversationProblem as problem:
            result.problems.append(
                ImportProblem(f"{label} ({prompt[:60]})", problem.field, problem.message)
            )
            continue
        turns.append((when, prompt, answer, record.get("products") or []))
    return turns


_DATE = re.compile(
    r"^([A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d{2}:\d{2}\s?[AP]M)\s*([A-Z]{2,5}|[+-]\d{2}:?\d{2})?$"
)


def _html_date(text: str) -> datetime | None:
    match = _DATE.match(_SPACES.sub(" ", text).strip())
    if not match:
        return None
    stamp = datetime.strptime(
        match.group(1).replace(" AM", "AM").replace(" PM", "PM"), "%b %d, %Y, %I:%M:%S%p"
    )
    zone = match.group(2) or "UTC"
    if zone[0] in "+-":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        return (stamp - sign * offset).replace(tzinfo=UTC)
    # Takeout writes the account's zone abbreviation; abbreviations are ambiguous,
    # so anything but an offset is read as UTC (docs/conversations.md).
    return stamp.replace(tzinfo=UTC)


def _turns_from_html(html: str, *, max_elements: int, result: ParseResult) -> list[tuple]:
    from bs4 import BeautifulSoup, NavigableString

    if html.count("<") > max_elements:
        raise ExportError(f"MyActivity.html has more than {max_elements:,} HTML elements.")
    soup = BeautifulSoup(html, "html.parser")
    cells = soup.select("div.outer-cell")
    if not cells:
        raise ExportError("MyActivity.html has no activity records (div.outer-cell).")
    turns = []
    for position, cell in enumerate(cells):
        content = cell.select_one("div.content-cell")
        if content is None:
            continue
        lines, rest, seen_date = [], [], None
        for child in list(content.children):
            if seen_date is None:
                if isinstance(child, NavigableString):
                    text = str(child).strip()
                    if text:
                        when = _html_date(text)
                        if when is not None:
                            seen_date = when
                        else:
                            lines.append(text)
                continue
            rest.append(str(child))
        head = _SPACES.sub(" ", " ".join(lines)).strip()
        if not head.startswith("Prompted"):
            continue
        prompt = head[len("Prompted") :].strip()
        if seen_date is None:
            result.problems.append(
                ImportProblem(f"record #{position + 1} ({prompt[:60]})", "time", "No time found.")
            )
            continue
        try:
            answer = html_to_text("".join(rest), max_elements=max_elements)
        except ConversationProblem as problem:
            result.problems.append(
                ImportProblem(f"record #{position + 1}", problem.field, problem.message)
            )
            continue
        turns.append((seen_date, prompt, answer, []))
    return turns


def group(turns: list[tuple], *, gap: timedelta) -> list[ParsedConversation]:
    conversations: list[ParsedConversation] = []
    previous = None
    for when, prompt, answer, _products in sorted(turns, key=lambda t: (t[0], t[1])):
        if previous is None or when - previous > gap:
            conversations.append(
                ParsedConversation(
                    source_id=stable_id("gemini", when.isoformat()),
                    title=prompt[:60] or "Gemini conversation",
                    created_at=when,
                    updated_at=when,
                    messages=[],
                )
            )
        current = conversations[-1]
        turn_id = stable_id(when.isoformat(), prompt)
        current.messages.append(
            ParsedMessage(source_id=f"{turn_id}:prompt", role="user", text=prompt, created_at=when)
        )
        if answer:
            current.messages.append(
                ParsedMessage(
                    source_id=f"{turn_id}:answer",
                    role="assistant",
                    text=answer,
                    # Takeout records one time per turn: the answer follows its prompt.
                    created_at=when + timedelta(microseconds=1),
                    model="gemini",
                )
            )
        current.updated_at = when
        previous = when
    return conversations


def parse(data: str, *, html: bool, gap: timedelta, max_elements: int, records=None) -> ParseResult:
    result = ParseResult()
    if html:
        turns = _turns_from_html(data, max_elements=max_elements, result=result)
    else:
        turns = _turns_from_json(records, max_elements=max_elements, result=result)
    result.conversations = group(turns, gap=gap)
    return result

"""Markdown: blocks between blank lines, ATX/setext headings as the path, code kept whole."""

from __future__ import annotations

import re
from typing import Any

from knowledge_base.extraction.document import ExtractedDocument, Section
from knowledge_base.extraction.limits import DEFAULT_LIMITS, ExtractionLimits, check_count
from knowledge_base.extraction.text import HeadingPath, one_line

_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


class _MarkdownReader:
    def __init__(self, max_sections: int) -> None:
        self.sections: list[Section] = []
        self._max_sections = max_sections
        self.title: str | None = None
        self._headings = HeadingPath()
        self._lines: list[str] = []
        self._fence: str | None = None

    def feed(self, line: str) -> None:
        fence = _FENCE.match(line)
        if self._fence is not None:
            # Inside code, '#' lines are comments, not headings.
            self._lines.append(line)
            if (
                fence
                and fence.group(1)[0] == self._fence[0]
                and len(fence.group(1)) >= len(self._fence)
            ):
                self._fence = None
            return
        if fence:
            self._fence = fence.group(1)
            self._lines.append(line)
            return
        self._feed_outside_code(line)

    def _feed_outside_code(self, line: str) -> None:
        atx = _ATX_HEADING.match(line)
        if atx:
            self._heading(len(atx.group(1)), atx.group(2) or "")
            return
        underline = _SETEXT_UNDERLINE.match(line)
        if underline and len(self._lines) == 1 and self._lines[0].strip():
            text = self._lines.pop()
            self._heading(1 if underline.group(1)[0] == "=" else 2, text)
            return
        if not line.strip() or underline:  # blank line or thematic break ("---")
            self.flush()
            return
        self._lines.append(line)

    def _heading(self, level: int, text: str) -> None:
        self.flush()
        text = text.strip()
        if not text:
            return
        if level == 1 and self.title is None:
            self.title = one_line(text)
        self._headings.push(level, text)

    def flush(self) -> None:
        block = "\n".join(self._lines).strip("\n")
        self._lines.clear()
        if block.strip():
            self.sections.append(Section(block, heading=self._headings.current))
            check_count(len(self.sections), self._max_sections, "paragraphs")


# Raw HTML in Markdown prose: script/style elements with their content, comments, and
# any other tag. Inline code spans are matched first so `<div>` in backticks stays.
_RAW_HTML = re.compile(
    r"(?P<code>(`+)[^`]*?\2)"
    r"|<(?P<element>script|style|iframe|object|template)\b.*?</(?P=element)\s*>"
    r"|<!--.*?-->"
    r"|</?[A-Za-z][^<>]*>",
    re.I | re.S,
)


def _without_raw_html(body: str) -> str:
    """Markdown prose without its embedded HTML (tags go, their text stays): chunk text
    is served as text, and must not carry `<script>` or `<img onerror>` to a client
    that would render it as HTML. Fenced code is code, kept as written."""
    parts: list[str] = []
    prose: list[str] = []
    fence: str | None = None

    def flush_prose() -> None:
        text = "\n".join(prose)
        parts.append(_RAW_HTML.sub(lambda m: m.group("code") or "", text))
        prose.clear()

    for line in body.split("\n"):
        opened = _FENCE.match(line)
        if fence is None and opened:
            flush_prose()
            fence = opened.group(1)
            parts.append(line)
        elif fence is not None:
            parts.append(line)
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = None
        else:
            prose.append(line)
    flush_prose()
    return "\n".join(parts)


def extract_markdown(text: str, limits: ExtractionLimits = DEFAULT_LIMITS) -> ExtractedDocument:
    metadata: dict[str, Any] = {}
    body, front_matter = _split_front_matter(text)
    body = _without_raw_html(body)
    if front_matter is not None:
        metadata["front_matter"] = front_matter
    reader = _MarkdownReader(limits.max_paragraphs)
    for line in body.split("\n"):
        reader.feed(line)
    reader.flush()
    title = reader.title or _front_matter_title(front_matter)
    return ExtractedDocument(title=title, sections=reader.sections, metadata=metadata)


def _split_front_matter(text: str) -> tuple[str, str | None]:
    """YAML front matter ("---" ... "---" at the very top) is metadata, not body text."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return text, None
    for index in range(1, min(len(lines), 200)):
        if lines[index].strip() in ("---", "..."):
            return "\n".join(lines[index + 1 :]), "\n".join(lines[1:index])
    return text, None


def _front_matter_title(front_matter: str | None) -> str | None:
    for line in (front_matter or "").split("\n"):
        key, _, value = line.partition(":")
        if key.strip().lower() == "title" and value.strip():
            return value.strip().strip("\"'") or None
    return None

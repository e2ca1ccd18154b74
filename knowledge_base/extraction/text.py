"""Text primitives every format shares: decoding, cleaning, paragraphs, heading paths."""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator

from knowledge_base.extraction.document import ExtractedDocument, Section
from knowledge_base.extraction.errors import UnsupportedContent
from knowledge_base.extraction.limits import DEFAULT_LIMITS, ExtractionLimits, check_count

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# C0/C1 controls other than tab, newline, carriage return and form feed.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")


def try_decode_text(data: bytes) -> str | None:
    """Decoded text, or None when `data` is not text we accept (binary, other encodings)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                return None
            break
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return None
    text = text.removeprefix("\ufeff")
    if "\x00" in text:
        return None
    # A few stray control characters happen in real text; more than 1% means binary.
    if len(_CONTROL.findall(text)) * 100 > len(text):
        return None
    return text


def decode_text(data: bytes) -> str:
    """UTF-8 (optionally with BOM) or BOM-marked UTF-16/32 text, newlines normalised."""
    text = try_decode_text(data)
    if text is None:
        raise UnsupportedContent(
            "The file is not readable text: it must be UTF-8 (or UTF-16 with a byte order mark)."
        )
    return clean_text(text)


_CONTROL_NO_NEWLINES = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def clean_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")
    return _CONTROL_NO_NEWLINES.sub("", text)


_BLANK_LINES = re.compile(r"\n[^\S\n]*\n\s*")


def paragraphs(text: str) -> Iterator[str]:
    for block in _BLANK_LINES.split(text):
        block = block.strip()
        if block:
            yield block


class HeadingPath:
    """The chain of open headings, rendered as "Chapter > Section"."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, str]] = []

    def push(self, level: int, text: str) -> None:
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, one_line(text)))

    @property
    def current(self) -> str | None:
        return " > ".join(text for _, text in self._stack) or None


def one_line(text: str) -> str:
    return " ".join(text.split())


def extract_plain(text: str, limits: ExtractionLimits = DEFAULT_LIMITS) -> ExtractedDocument:
    sections: list[Section] = []
    for block in paragraphs(text):
        sections.append(Section(block))
        check_count(len(sections), limits.max_paragraphs, "paragraphs")
    return ExtractedDocument(title=None, sections=sections)

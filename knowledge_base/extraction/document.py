"""What extraction returns: text blocks in reading order, with their page and heading path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Section:
    """One block of text in reading order."""

    text: str
    page: int | None = None
    heading: str | None = None


@dataclass(slots=True)
class ExtractedDocument:
    title: str | None
    sections: list[Section]
    page_count: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n\n".join(section.text for section in self.sections)

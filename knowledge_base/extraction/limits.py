"""How much work one document may cost, and the error a document that wants more gets.

Two kinds of limit, because neither is enough alone:

* element counts checked by the readers before or while they parse (pages, paragraphs, rows,
  columns, HTML elements, XML depth, zip members and unpacked size): they refuse early, cheaply,
  and tell the user exactly what was too big;
* CPU time and memory enforced by the kernel on the process that parses (see `sandbox`): they
  catch whatever the counts did not foresee (a parser's quadratic corner, a decompression
  path we never thought of).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from knowledge_base.extraction.errors import ExtractionError


class LimitExceeded(ExtractionError):
    """The document needs more work than the platform allows for one document."""


@dataclass(frozen=True, slots=True)
class ExtractionLimits:
    # Kernel limits on the parsing process.
    cpu_seconds: int = 60
    memory_mb: int = 1024
    # Element counts.
    max_pages: int = 5_000
    max_paragraphs: int = 100_000
    max_rows: int = 200_000
    max_columns: int = 1_000
    max_html_elements: int = 500_000
    max_xml_depth: int = 256
    # Archives (DOCX), checked from the zip directory before anything is unpacked.
    max_zip_members: int = 2_000
    max_unpacked_mb: int = 200
    max_compression_ratio: int = 500

    @property
    def wall_seconds(self) -> float:
        # A parse that waits rather than computes (a starved machine) still ends.
        return self.cpu_seconds * 2 + 10

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


DEFAULT_LIMITS = ExtractionLimits()


def too_many(what: str, limit: int) -> LimitExceeded:
    """The user-facing refusal for an element count: "more than 100,000 paragraphs"."""
    return LimitExceeded(f"The document has more than {limit:,} {what} (limit {limit:,}).")


def check_count(count: int, limit: int, what: str) -> None:
    if count > limit:
        raise too_many(what, limit)

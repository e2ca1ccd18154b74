"""Word (.docx): paragraphs and tables in reading order, headings from the styles."""

from __future__ import annotations

import io
import logging
import re
import zipfile
from typing import Any
from xml.parsers import expat

from knowledge_base.extraction.document import ExtractedDocument, Section
from knowledge_base.extraction.errors import DocumentError, ExtractionError
from knowledge_base.extraction.formats import DOCX
from knowledge_base.extraction.limits import (
    DEFAULT_LIMITS,
    ExtractionLimits,
    LimitExceeded,
    check_count,
)
from knowledge_base.extraction.tabular import table_text
from knowledge_base.extraction.text import HeadingPath, clean_text, one_line

logger = logging.getLogger(__name__)

_DAMAGED = "The Word document is damaged or not a valid .docx file and could not be read."
_MB = 1024 * 1024
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
# Names as expat reports them with namespace_separator=" ".
_W_PARAGRAPH = f"{_W} p"
_W_ROW = f"{_W} tr"
_W_CELL = f"{_W} tc"
# Members this small cannot be a bomb whatever their ratio (XML headers compress 20x).
_RATIO_MINIMUM_BYTES = _MB


def extract_docx(data: bytes, limits: ExtractionLimits = DEFAULT_LIMITS) -> ExtractedDocument:
    # Everything python-docx would load is checked first, from the zip directory and then
    # with a streaming scan, so a hostile archive is refused before it is unpacked or parsed.
    _check_archive(data, limits)
    try:
        return _read_docx(data)
    except DocumentError:
        raise
    except MemoryError:  # the sandbox reports it as the memory limit
        raise
    except Exception as exc:
        logger.info("Could not parse DOCX: %s", exc, exc_info=True)
        raise ExtractionError(_DAMAGED) from exc


def _check_archive(data: bytes, limits: ExtractionLimits) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            _check_members(members, limits)
            scan = _XmlScan(limits)
            for member in members:
                if member.filename.endswith((".xml", ".rels")):
                    scan.member(archive, member)
    except DocumentError:
        raise
    except MemoryError:  # the sandbox reports it as the memory limit
        raise
    except Exception as exc:
        logger.info("DOCX is not a readable zip: %s", exc, exc_info=True)
        raise ExtractionError(_DAMAGED) from exc


def _check_members(members: list[zipfile.ZipInfo], limits: ExtractionLimits) -> None:
    """Count, total size and ratio, all from the directory: nothing is inflated yet.

    The sizes can be trusted: zipfile never inflates a member past its declared size
    (and fails its CRC check when the data disagrees).
    """
    if len(members) > limits.max_zip_members:
        raise LimitExceeded(
            f"The Word document contains more than {limits.max_zip_members:,} files "
            f"(limit {limits.max_zip_members:,})."
        )
    unpacked = sum(member.file_size for member in members)
    if unpacked > limits.max_unpacked_mb * _MB:
        raise LimitExceeded(
            f"The Word document unpacks to more than {limits.max_unpacked_mb:,} MB "
            f"(limit {limits.max_unpacked_mb:,} MB)."
        )
    for member in members:
        if member.file_size < _RATIO_MINIMUM_BYTES:
            continue
        if member.file_size > max(member.compress_size, 1) * limits.max_compression_ratio:
            raise LimitExceeded(
                f"The Word document is compressed more than {limits.max_compression_ratio:,} "
                "times, as only a zip bomb is; it was not unpacked."
            )


class _XmlScan:
    """A streaming pass over the XML parts: no DTD, bounded depth, paragraphs and rows counted.

    Word never writes a DTD, and refusing it removes entity expansion (billion laughs) and
    external entities before lxml sees the part. The scan inflates 1 MB at a time and keeps
    only counters, so its memory does not grow with the document.
    """

    def __init__(self, limits: ExtractionLimits) -> None:
        self.limits = limits
        self.paragraphs = 0
        self.rows = 0
        self.cells_in_row = 0
        self.depth = 0

    def member(self, archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> None:
        parser = expat.ParserCreate(namespace_separator=" ")
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.StartDoctypeDeclHandler = self._refuse_dtd
        parser.EntityDeclHandler = self._refuse_dtd
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        self.depth = 0
        try:
            with archive.open(member) as handle:
                while chunk := handle.read(_MB):
                    parser.Parse(chunk, False)
                parser.Parse(b"", True)
        except expat.ExpatError as exc:
            logger.info("Malformed XML in DOCX part %s: %s", member.filename, exc)
            raise ExtractionError(_DAMAGED) from exc

    def _refuse_dtd(self, *_args: object) -> None:
        raise LimitExceeded(
            "The Word document contains an XML document type declaration (DTD), which Word "
            "never writes; it was refused (entity expansion is a known attack)."
        )

    def _start(self, name: str, _attributes: object) -> None:
        limits = self.limits
        self.depth += 1
        if self.depth > limits.max_xml_depth:
            raise LimitExceeded(
                f"The Word document's XML is nested more than {limits.max_xml_depth:,} levels "
                f"deep (limit {limits.max_xml_depth:,})."
            )
        if name == _W_PARAGRAPH:
            self.paragraphs += 1
            check_count(self.paragraphs, limits.max_paragraphs, "paragraphs")
        elif name == _W_ROW:
            self.rows += 1
            self.cells_in_row = 0
            check_count(self.rows, limits.max_rows, "table rows")
        elif name == _W_CELL:
            self.cells_in_row += 1
            check_count(self.cells_in_row, limits.max_columns, "table columns")

    def _end(self, _name: str) -> None:
        self.depth -= 1


def _read_docx(data: bytes) -> ExtractedDocument:
    import docx
    from docx.table import Table

    document = docx.Document(io.BytesIO(data))
    headings = HeadingPath()
    heading_levels = _HeadingLevels()
    sections: list[Section] = []
    title = (document.core_properties.title or "").strip() or None
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            text = _docx_table_text(block)
            if text:
                sections.append(Section(text, heading=headings.current))
            continue
        text = clean_text(block.text).strip()
        if not text:
            continue
        level = heading_levels.of(block)
        if level is None:
            sections.append(Section(text, heading=headings.current))
            continue
        if level == 0 and title is None:
            title = text
        headings.push(level, text)
    metadata: dict[str, Any] = {"content_type": DOCX}
    author = (document.core_properties.author or "").strip()
    if author:
        metadata["author"] = author
    return ExtractedDocument(title=title, sections=sections, page_count=None, metadata=metadata)


_HEADING_STYLE = re.compile(r"heading\s*([1-9])")


class _HeadingLevels:
    """Heading levels by style id: python-docx looks a style up by scanning styles.xml, which
    cost a millisecond per paragraph when done for each one."""

    def __init__(self) -> None:
        self._levels: dict[str | None, int | None] = {}

    def of(self, paragraph: Any) -> int | None:
        style_id = paragraph._p.style
        if style_id not in self._levels:
            self._levels[style_id] = _docx_heading_level(paragraph.style)
        return self._levels[style_id]


def _docx_heading_level(style: Any) -> int | None:
    """0 for Title, 1..9 for Heading N, also through custom styles based on them."""
    for _ in range(10):  # base-style chains are short; the bound guards against cycles
        if style is None:
            return None
        name = (style.name or "").strip().lower()
        if name == "title":
            return 0
        match = _HEADING_STYLE.fullmatch(name)
        if match:
            return int(match.group(1))
        style = style.base_style
    return None


def _docx_table_text(table: Any) -> str:
    rows = [_docx_row_cells(row) for row in table.rows]
    return table_text([row for row in rows if any(row)])


def _docx_row_cells(row: Any) -> list[str]:
    # Merged cells are returned once per grid column; keep each underlying cell once.
    cells: list[str] = []
    seen: list[Any] = []
    for cell in row.cells:
        if seen and cell._tc is seen[-1]:
            continue
        seen.append(cell._tc)
        cells.append(one_line(cell.text))
    return cells

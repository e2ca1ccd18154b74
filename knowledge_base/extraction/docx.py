"""Word (.docx): paragraphs and tables in reading order, headings from the styles."""

from __future__ import annotations

import io
import logging
import re
import zipfile
from typing import Any

from knowledge_base.extraction.document import ExtractedDocument, Section
from knowledge_base.extraction.errors import DocumentError, ExtractionError
from knowledge_base.extraction.formats import DOCX
from knowledge_base.extraction.tabular import table_text
from knowledge_base.extraction.text import HeadingPath, clean_text, one_line

logger = logging.getLogger(__name__)

# Word documents unpack to XML; refuse archives that would balloon in memory (zip bombs).
MAX_DOCX_UNCOMPRESSED_BYTES = 256 * 1024 * 1024


def extract_docx(data: bytes) -> ExtractedDocument:
    _check_docx_size(data)
    try:
        return _read_docx(data)
    except DocumentError:
        raise
    except Exception as exc:
        logger.info("Could not parse DOCX: %s", exc, exc_info=True)
        raise ExtractionError(
            "The Word document is damaged or not a valid .docx file and could not be read."
        ) from exc


def _check_docx_size(data: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except Exception as exc:
        logger.info("DOCX is not a readable zip: %s", exc, exc_info=True)
        raise ExtractionError(
            "The Word document is damaged or not a valid .docx file and could not be read."
        ) from exc
    if unpacked > MAX_DOCX_UNCOMPRESSED_BYTES:
        raise ExtractionError("The Word document is too large to process once unpacked.")


def _read_docx(data: bytes) -> ExtractedDocument:
    import docx
    from docx.table import Table

    document = docx.Document(io.BytesIO(data))
    headings = HeadingPath()
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
        level = _docx_heading_level(block)
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


def _docx_heading_level(paragraph: Any) -> int | None:
    """0 for Title, 1..9 for Heading N, also through custom styles based on them."""
    style = paragraph.style
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

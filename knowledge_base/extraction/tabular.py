"""Tables and CSV: the first row is the header, every other row a "column: value" record."""

from __future__ import annotations

import csv
import io

from knowledge_base.extraction.document import ExtractedDocument, Section
from knowledge_base.extraction.errors import ExtractionError
from knowledge_base.extraction.limits import DEFAULT_LIMITS, ExtractionLimits, check_count

# CSV rows are grouped so one section is a readable screenful, not one section per row.
CSV_ROWS_PER_SECTION = 20


def record_line(header: list[str], values: list[str]) -> str:
    """A table row as "col1: val1; col2: val2" (empty values left out)."""
    parts = []
    for position, value in enumerate(values):
        if not value:
            continue
        name = header[position] if position < len(header) and header[position] else None
        parts.append(f"{name or f'column {position + 1}'}: {value}")
    return "; ".join(parts)


def table_text(rows: list[list[str]]) -> str:
    """First row as header, every other row as a record line."""
    if not rows:
        return ""
    if len(rows) == 1:
        return " | ".join(cell for cell in rows[0] if cell)
    header = rows[0]
    lines = (record_line(header, row) for row in rows[1:])
    return "\n".join(line for line in lines if line)


def extract_csv(text: str, limits: ExtractionLimits = DEFAULT_LIMITS) -> ExtractedDocument:
    dialect = _csv_dialect(text)
    rows: list[list[str]] = []
    try:
        for row in csv.reader(io.StringIO(text), dialect):
            # Checked row by row, before a row is copied or formatted.
            check_count(len(row), limits.max_columns, "columns")
            cells = [cell.strip() for cell in row]
            if any(cells):
                rows.append(cells)
                check_count(len(rows) - 1, limits.max_rows, "rows")  # the first is the header
    except csv.Error as exc:
        raise ExtractionError(f"The CSV file could not be parsed: {exc}.") from exc
    if not rows:
        return ExtractedDocument(title=None, sections=[])
    header, records = rows[0], rows[1:]
    lines = [record_line(header, row) for row in records] if records else [" | ".join(header)]
    lines = [line for line in lines if line]
    sections = [
        Section("\n".join(lines[start : start + CSV_ROWS_PER_SECTION]))
        for start in range(0, len(lines), CSV_ROWS_PER_SECTION)
    ]
    metadata = {"columns": header, "row_count": len(records), "delimiter": dialect.delimiter}
    return ExtractedDocument(title=None, sections=sections, metadata=metadata)


def _csv_dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(text[:65536], delimiters=",;\t|")
    except csv.Error:
        return csv.excel  # single-column files and ragged samples defeat the sniffer

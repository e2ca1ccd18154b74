"""Read a CSV or XLSX into a header and rows of strings, under the extraction limits."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile

from knowledge_base.extraction.errors import ExtractionError
from knowledge_base.extraction.limits import ExtractionLimits, LimitExceeded, check_count
from knowledge_base.extraction.text import decode_text

CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class Table:
    def __init__(self, columns: list[str], rows: list[list[str]], sheet: str | None = None):
        self.columns, self.rows, self.sheet = columns, rows, sheet


def _header(cells: list[str]) -> list[str]:
    names, seen = [], set()
    for position, cell in enumerate(cells, start=1):
        name = cell.strip() or f"column {position}"
        while name in seen:
            name += "_"
        seen.add(name)
        names.append(name)
    return names


def _table(raw_rows, limits: ExtractionLimits, sheet: str | None = None) -> Table:
    rows: list[list[str]] = []
    header: list[str] | None = None
    for row in raw_rows:
        check_count(len(row), limits.max_columns, "columns")
        cells = [_cell(value) for value in row]
        if not any(cells):
            continue
        if header is None:
            header = _header(cells)
            continue
        rows.append(cells)
        check_count(len(rows), limits.max_rows, "rows")
    if header is None:
        raise ExtractionError("The table is empty.")
    width = len(header)
    rows = [(r + [""] * (width - len(r)))[:width] for r in rows]
    return Table(header, rows, sheet)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ") if value.time() != dt.time() else value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def read_csv(data: bytes, limits: ExtractionLimits) -> Table:
    text = decode_text(data)
    try:
        dialect = csv.Sniffer().sniff(text[:65536], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        return _table(csv.reader(io.StringIO(text), dialect), limits)
    except csv.Error as exc:
        raise ExtractionError(f"The CSV file could not be parsed: {exc}.") from exc


def read_xlsx(data: bytes, limits: ExtractionLimits) -> Table:
    """The first worksheet. The archive is checked from its directory before
    openpyxl unpacks anything (members, unpacked size, compression ratio)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ExtractionError("The workbook is damaged.") from exc
    check_count(len(infos), limits.max_zip_members, "parts")
    unpacked = sum(info.file_size for info in infos)
    if unpacked > limits.max_unpacked_mb * 1024 * 1024:
        raise LimitExceeded(
            f"The workbook unpacks to more than {limits.max_unpacked_mb:,} MB "
            f"(limit {limits.max_unpacked_mb:,} MB)."
        )
    packed = sum(info.compress_size for info in infos) or 1
    if unpacked / packed > limits.max_compression_ratio:
        raise LimitExceeded("The workbook is compressed suspiciously well (a zip bomb?).")
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for damaged files
        raise ExtractionError("The workbook could not be read.") from exc
    try:
        sheet = workbook.worksheets[0]
        return _table(sheet.iter_rows(values_only=True), limits, sheet=sheet.title)
    finally:
        workbook.close()


def read_table(data: bytes, content_type: str, limits: ExtractionLimits) -> Table:
    if content_type == XLSX:
        return read_xlsx(data, limits)
    if content_type == CSV:
        return read_csv(data, limits)
    raise ExtractionError(f"Content type '{content_type}' is not a table.")

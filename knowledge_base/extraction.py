"""Turn uploaded bytes into structured text for the knowledge base.

Django-free on purpose: plain functions and dataclasses, so workers, scripts and tests can use
it without settings.

Two steps, usually called together through `extract_upload`:

* `detect_content_type(data, filename)` decides what the upload really is from its *content*,
  against an allow-list. The file name only states what the user claims: when the claim and
  the content disagree (a PDF named .txt, text named .pdf, a zip named .docx) we refuse
  rather than guess, because a silent reinterpretation hides mistakes and is a classic way to
  smuggle unexpected content into a parser. Among the text formats the extension decides
  (a .txt full of HTML is indexed as plain text), except that .json must parse and
  .html/.htm must contain markup. Files without an extension are sniffed (PDF, DOCX, JSON,
  HTML, else plain text); any other extension is refused.
* `extract(data, content_type)` returns an `ExtractedDocument`: text blocks in reading order,
  each with its page (PDF, 1-based) and heading path ("Guide > Install").

Every failure is a `DocumentError` whose `.message` is safe to show to end users; library
exceptions never escape (they are logged and chained instead).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
import re
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

logger = logging.getLogger(__name__)

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
HTML = "text/html"
MARKDOWN = "text/markdown"
PLAIN = "text/plain"
CSV = "text/csv"
JSON = "application/json"

SUPPORTED_CONTENT_TYPES: frozenset[str] = frozenset({PDF, DOCX, HTML, MARKDOWN, PLAIN, CSV, JSON})
TEXT_CONTENT_TYPES: frozenset[str] = frozenset({HTML, MARKDOWN, PLAIN, CSV, JSON})

EXTENSION_TYPES: dict[str, str] = {
    "pdf": PDF,
    "docx": DOCX,
    "html": HTML,
    "htm": HTML,
    "md": MARKDOWN,
    "markdown": MARKDOWN,
    "txt": PLAIN,
    "text": PLAIN,
    "csv": CSV,
    "json": JSON,
}

_LABELS: dict[str, str] = {
    PDF: "a PDF document",
    DOCX: "a Word document (.docx)",
    HTML: "an HTML page",
    MARKDOWN: "a Markdown file",
    PLAIN: "plain text",
    CSV: "a CSV file",
    JSON: "a JSON file",
}

SUPPORTED_FORMATS_TEXT = (
    "Supported formats: PDF, Word (.docx), HTML, Markdown, plain text, CSV and JSON."
)

# Word documents unpack to XML; refuse archives that would balloon in memory (zip bombs).
MAX_DOCX_UNCOMPRESSED_BYTES = 256 * 1024 * 1024
# CSV rows are grouped so one section is a readable screenful, not one section per row.
CSV_ROWS_PER_SECTION = 20


# --------------------------------------------------------------------------- errors


class DocumentError(Exception):
    """Base class; `.message` is written for end users (no paths, no library internals)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsupportedContent(DocumentError):
    """The upload is not one of the allowed formats, or its name contradicts its content."""


class EmptyContent(DocumentError):
    """The upload has no bytes, or no text at all."""


class ExtractionError(DocumentError):
    """The format is allowed but the file cannot be read (corrupt, encrypted, scanned...)."""


# --------------------------------------------------------------------------- results


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


# --------------------------------------------------------------------------- detection

_PDF_MAGIC = b"%PDF-"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_DOCX_MAIN_TYPE = b"wordprocessingml.document.main+xml"

# Only used to name what we refuse; text files are recognised before these are consulted,
# so a text file that happens to start with "MZ" is still text.
_BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"BM", "a bitmap image"),
    (b"\x00\x00\x01\x00", "an icon image"),
    (b"MZ", "a Windows executable"),
    (b"\x7fELF", "a Linux executable"),
    (b"\xcf\xfa\xed\xfe", "a macOS executable"),
    (b"\xce\xfa\xed\xfe", "a macOS executable"),
    (b"\xca\xfe\xba\xbe", "a Java class file or macOS executable"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy or password-protected Office file"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"OggS", "an Ogg audio/video file"),
    (b"ID3", "an MP3 audio file"),
    (b"fLaC", "a FLAC audio file"),
    (b"RIFF", "a WAV/AVI/WebP media file"),
    (b"\x1aE\xdf\xa3", "a Matroska/WebM video"),
    (b"wOFF", "a web font"),
    (b"\x00asm", "a WebAssembly module"),
)

# Text formats we recognise but do not support; named so the user knows what to convert.
_TEXT_SIGNATURES: tuple[tuple[str, str], ...] = (
    ("{\\rtf", "an RTF document"),
    ("%!PS", "a PostScript document"),
)

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# C0/C1 controls other than tab, newline, carriage return and form feed.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_HTML_DOCUMENT = re.compile(
    r"\A(?:\s|<!--.*?-->|<\?xml[^>]*>)*<(?:!doctype\s+html|html)\b", re.I | re.S
)
_HTML_TAG = re.compile(r"<(?:[a-zA-Z][a-zA-Z0-9-]*)(?:\s[^<>]*)?/?>")


@dataclass(frozen=True, slots=True)
class _Sniffed:
    kind: str | None  # a supported content type, TEXT_KIND, or None when unsupported
    label: str  # what we found, phrased for users: "a PNG image"


_TEXT_KIND = "text/*"


def detect_content_type(data: bytes, filename: str) -> str:
    """The supported content type of `data`, decided by content and checked against the name.

    Raises EmptyContent for empty uploads, UnsupportedContent for anything outside the
    allow-list or whose extension contradicts its content.
    """
    if not data:
        raise EmptyContent("The file is empty.")
    extension = _extension(filename)
    declared = EXTENSION_TYPES.get(extension) if extension else None

    sniffed = _sniff(data)
    if sniffed.kind is None:
        raise UnsupportedContent(
            f"This file looks like {sniffed.label}, which cannot be added to a knowledge base. "
            f"{SUPPORTED_FORMATS_TEXT}"
        )
    if extension and declared is None:
        raise UnsupportedContent(
            f"Files ending in '.{extension}' are not supported. {SUPPORTED_FORMATS_TEXT}"
        )

    if sniffed.kind in (PDF, DOCX):
        if declared not in (None, sniffed.kind):
            raise _mismatch(declared, sniffed.label)
        return sniffed.kind
    return _resolve_text_type(data, declared)


def _resolve_text_type(data: bytes, declared: str | None) -> str:
    if declared in (PDF, DOCX):
        raise _mismatch(declared, _LABELS[PLAIN])
    text = decode_text(data)
    if not text.strip():
        raise EmptyContent("The file contains no text.")
    if declared is None:
        return _sniff_text_type(text)
    if declared == JSON and not _is_json(text):
        raise UnsupportedContent("The file is named .json but is not valid JSON.")
    if declared == HTML and not _HTML_TAG.search(text):
        raise UnsupportedContent("The file is named as an HTML page but contains no HTML markup.")
    return declared


def _mismatch(declared: str, found: str) -> UnsupportedContent:
    # Messages never echo the file name: callers prefix it (and it is user-controlled).
    return UnsupportedContent(
        f"The file is named as {_LABELS[declared]} but its content is {found}. "
        "Please upload it with the correct file extension."
    )


def _sniff(data: bytes) -> _Sniffed:
    if data[:1024].lstrip(b"\t\n\r\f ")[:5] == _PDF_MAGIC:
        return _Sniffed(PDF, _LABELS[PDF])
    if data.startswith(_ZIP_MAGICS):
        return _sniff_zip(data)
    text = _try_decode_text(data)
    if text is not None:
        for prefix, label in _TEXT_SIGNATURES:
            if text.lstrip().startswith(prefix):
                return _Sniffed(None, label)
        return _Sniffed(_TEXT_KIND, _LABELS[PLAIN])
    if data[4:8] == b"ftyp":
        return _Sniffed(None, "an MP4/MOV/HEIC media file")
    for magic, label in _BINARY_SIGNATURES:
        if data.startswith(magic):
            return _Sniffed(None, label)
    return _Sniffed(None, "binary data (not text)")


def _sniff_zip(data: bytes) -> _Sniffed:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            content_types = _read_small_member(archive, "[Content_Types].xml", names)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return _Sniffed(None, "a damaged ZIP archive")
    if "word/document.xml" in names:
        if content_types is not None and _DOCX_MAIN_TYPE in content_types:
            return _Sniffed(DOCX, _LABELS[DOCX])
        return _Sniffed(None, "a macro-enabled or template Word file (only .docx is supported)")
    if "xl/workbook.xml" in names:
        return _Sniffed(None, "an Excel workbook")
    if "ppt/presentation.xml" in names:
        return _Sniffed(None, "a PowerPoint presentation")
    if "mimetype" in names:
        return _Sniffed(None, "an OpenDocument or EPUB file")
    if "META-INF/MANIFEST.MF" in names:
        return _Sniffed(None, "a Java archive")
    return _Sniffed(None, "a ZIP archive")


def _read_small_member(archive: zipfile.ZipFile, member: str, names: set[str]) -> bytes | None:
    # [Content_Types].xml is a few KB; the cap keeps a hostile archive from costing memory.
    if member not in names:
        return None
    with archive.open(member) as handle:
        return handle.read(1024 * 1024)


def _sniff_text_type(text: str) -> str:
    stripped = text.lstrip()
    if stripped[:1] in ("{", "[") and _is_json(text):
        return JSON
    if _HTML_DOCUMENT.match(text[:4096]):  # the doctype or <html> opens the document
        return HTML
    return PLAIN


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def _try_decode_text(data: bytes) -> str | None:
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
    text = _try_decode_text(data)
    if text is None:
        raise UnsupportedContent(
            "The file is not readable text: it must be UTF-8 (or UTF-16 with a byte order mark)."
        )
    return _clean(text)


def _extension(filename: str) -> str:
    stem, dot, suffix = _basename(filename).rpartition(".")
    return suffix.lower() if dot and stem else ""  # ".bashrc" has no extension


def _basename(filename: str) -> str:
    # Browsers on Windows sometimes send "C:\\Users\\...\\file.pdf".
    return PureWindowsPath(PurePosixPath(filename or "").name).name


# --------------------------------------------------------------------------- extraction


def extract_upload(data: bytes, filename: str) -> ExtractedDocument:
    """Detect and extract in one call; records the content type in the metadata."""
    content_type = detect_content_type(data, filename)
    document = extract(data, content_type)
    document.metadata.setdefault("content_type", content_type)
    return document


def extract(data: bytes, content_type: str) -> ExtractedDocument:
    """Structured text for `data`, which must be of the (already detected) `content_type`."""
    if not data:
        raise EmptyContent("The file is empty.")
    if content_type == PDF:
        return _extract_pdf(data)
    if content_type == DOCX:
        return _non_empty(_extract_docx(data))
    extractor = _TEXT_EXTRACTORS.get(content_type)
    if extractor is None:
        raise UnsupportedContent(
            f"Content type '{content_type}' is not supported. {SUPPORTED_FORMATS_TEXT}"
        )
    text = decode_text(data)
    if not text.strip():
        raise EmptyContent("The file contains no text.")
    document = extractor(text)
    document.metadata.setdefault("content_type", content_type)
    return _non_empty(document)


def _non_empty(document: ExtractedDocument) -> ExtractedDocument:
    if not document.sections:
        raise EmptyContent("The document contains no text.")
    return document


_CONTROL_NO_NEWLINES = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def _clean(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")
    return _CONTROL_NO_NEWLINES.sub("", text)


_BLANK_LINES = re.compile(r"\n[^\S\n]*\n\s*")


def _paragraphs(text: str) -> Iterator[str]:
    for block in _BLANK_LINES.split(text):
        block = block.strip()
        if block:
            yield block


# --------------------------------------------------------------------------- PDF


def _extract_pdf(data: bytes) -> ExtractedDocument:
    reader = _open_pdf(data)
    try:
        page_count = len(reader.pages)
    except Exception as exc:
        raise _pdf_damaged(exc) from exc
    sections: list[Section] = []
    unreadable: list[int] = []
    # One page at a time, keeping only its text: page objects are the memory-heavy part.
    for number in range(1, page_count + 1):
        page_text = _pdf_page_text(reader, number)
        if page_text is None:
            unreadable.append(number)
            continue
        sections.extend(Section(block, page=number) for block in _pdf_blocks(page_text))
    if not sections:
        if unreadable and len(unreadable) == page_count:
            raise ExtractionError("The PDF file is damaged: none of its pages could be read.")
        raise ExtractionError(
            "The PDF contains no extractable text. It is probably a scanned image; "
            "please upload a PDF with a text layer (run OCR on it first)."
        )
    metadata: dict[str, Any] = {"content_type": PDF, **_pdf_info(reader)}
    if unreadable:
        metadata["unreadable_pages"] = unreadable
    return ExtractedDocument(
        title=metadata.get("title"), sections=sections, page_count=page_count, metadata=metadata
    )


def _open_pdf(data: bytes) -> Any:
    from pypdf import PasswordType, PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        encrypted = reader.is_encrypted
    except Exception as exc:
        raise _pdf_damaged(exc) from exc
    if encrypted:
        # Many "encrypted" PDFs only restrict printing/copying and open with an empty password.
        try:
            result = reader.decrypt("")
        except Exception as exc:
            logger.info("Could not decrypt PDF with an empty password", exc_info=True)
            raise _pdf_encrypted() from exc
        if result == PasswordType.NOT_DECRYPTED:
            raise _pdf_encrypted()
    return reader


def _pdf_encrypted() -> ExtractionError:
    return ExtractionError(
        "The PDF is encrypted and needs a password to open. "
        "Please remove the password protection and upload it again."
    )


def _pdf_damaged(exc: BaseException) -> ExtractionError:
    logger.info("Could not parse PDF: %s", exc, exc_info=True)
    return ExtractionError("The PDF file is damaged or incomplete and could not be read.")


def _pdf_page_text(reader: Any, number: int) -> str | None:
    try:
        return reader.pages[number - 1].extract_text() or ""
    except Exception:
        # One broken page should not cost the rest of the document.
        logger.info("Could not extract text from PDF page %d", number, exc_info=True)
        return None


# A wrapped line: the next line continues the sentence (starts lowercase or with a digit).
_PDF_WRAP = re.compile(r"(?<=[\w,;:)\-])[^\S\n]*\n[^\S\n]*(?=[a-z0-9])")


def _pdf_blocks(page_text: str) -> Iterator[str]:
    """Paragraph-ish blocks of a page, with soft line wraps rejoined into sentences."""
    for block in _paragraphs(_clean(page_text)):
        yield _PDF_WRAP.sub(" ", block)


def _pdf_info(reader: Any) -> dict[str, str]:
    try:
        info = reader.metadata
    except Exception:
        return {}
    if not info:
        return {}
    found: dict[str, str] = {}
    for key, attribute in (("title", "title"), ("author", "author"), ("subject", "subject")):
        try:
            value = getattr(info, attribute)
        except Exception:  # malformed metadata must not cost the whole document
            logger.info("Unreadable PDF metadata field %r", attribute, exc_info=True)
            continue
        if isinstance(value, str) and value.strip():
            found[key] = value.strip()
    return found


# --------------------------------------------------------------------------- DOCX


def _extract_docx(data: bytes) -> ExtractedDocument:
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
    headings = _HeadingPath()
    sections: list[Section] = []
    title = (document.core_properties.title or "").strip() or None
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            text = _docx_table_text(block)
            if text:
                sections.append(Section(text, heading=headings.current))
            continue
        text = _clean(block.text).strip()
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
    return _table_text([row for row in rows if any(row)])


def _docx_row_cells(row: Any) -> list[str]:
    # Merged cells are returned once per grid column; keep each underlying cell once.
    cells: list[str] = []
    seen: list[Any] = []
    for cell in row.cells:
        if seen and cell._tc is seen[-1]:
            continue
        seen.append(cell._tc)
        cells.append(_one_line(cell.text))
    return cells


# --------------------------------------------------------------------------- shared helpers


class _HeadingPath:
    """The chain of open headings, rendered as "Chapter > Section"."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, str]] = []

    def push(self, level: int, text: str) -> None:
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, _one_line(text)))

    @property
    def current(self) -> str | None:
        return " > ".join(text for _, text in self._stack) or None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _record(header: list[str], values: list[str]) -> str:
    """A table row as "col1: val1; col2: val2" (empty values left out)."""
    parts = []
    for position, value in enumerate(values):
        if not value:
            continue
        name = header[position] if position < len(header) and header[position] else None
        parts.append(f"{name or f'column {position + 1}'}: {value}")
    return "; ".join(parts)


def _table_text(rows: list[list[str]]) -> str:
    """First row as header, every other row as a record line."""
    if not rows:
        return ""
    if len(rows) == 1:
        return " | ".join(cell for cell in rows[0] if cell)
    header = rows[0]
    lines = (_record(header, row) for row in rows[1:])
    return "\n".join(line for line in lines if line)


# --------------------------------------------------------------------------- HTML

_HTML_DROP = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "nav",
        "head",
        "iframe",
        "svg",
        "canvas",
        "object",
        "embed",
        "select",
        "button",
        "math",
    }
)
_HTML_BLOCKS = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "body",
        "caption",
        "center",
        "dd",
        "details",
        "dialog",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "header",
        "hr",
        "html",
        "legend",
        "li",
        "main",
        "ol",
        "p",
        "section",
        "summary",
        "ul",
    }
)
_HTML_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_FLUSH = object()  # walk marker: the block element whose children were just visited ends here


def _extract_html(text: str) -> ExtractedDocument:
    from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(text, "html.parser")
    title = _one_line(soup.title.get_text()) if soup.title else ""
    walker = _HtmlWalker()
    walker.walk(soup)
    first_h1 = soup.find("h1")
    if not title and first_h1 is not None:
        title = _one_line(first_h1.get_text(" "))
    return ExtractedDocument(title=title or None, sections=walker.sections, metadata={})


class _HtmlWalker:
    """Iterative walk (deeply nested markup must not hit Python's recursion limit)."""

    def __init__(self) -> None:
        self.sections: list[Section] = []
        self._headings = _HeadingPath()
        self._inline: list[str] = []

    def walk(self, root: Any) -> None:
        stack: list[Any] = list(reversed(list(root.children)))
        while stack:
            node = stack.pop()
            if node is _FLUSH:
                self._flush()
            else:
                stack.extend(self._visit(node))
        self._flush()

    def _visit(self, node: Any) -> list[Any]:
        """Handle one node; returns what to push on the stack (children reversed)."""
        from bs4 import Comment, Declaration, Doctype, NavigableString, ProcessingInstruction, Tag

        if isinstance(node, NavigableString):
            if not isinstance(node, Comment | Declaration | Doctype | ProcessingInstruction):
                self._inline.append(str(node))
            return []
        if not isinstance(node, Tag) or self._hidden(node):
            return []
        name = node.name.lower()
        if name in _HTML_HEADINGS:
            self._flush()
            heading = _one_line(node.get_text(" "))
            if heading:
                self._headings.push(_HTML_HEADINGS[name], heading)
            return []
        if name in ("table", "pre"):
            self._flush()
            block = _html_table_text(node) if name == "table" else _clean(node.get_text()).strip()
            self._add(block)
            return []
        if name == "br":
            self._inline.append("\n")
            return []
        children = list(reversed(list(node.children)))
        if name in _HTML_BLOCKS or name == "tr":
            self._flush()
            return [_FLUSH, *children]
        return children

    @staticmethod
    def _hidden(tag: Any) -> bool:
        return (
            tag.name.lower() in _HTML_DROP
            or tag.has_attr("hidden")
            or str(tag.get("aria-hidden", "")).lower() == "true"
        )

    def _flush(self) -> None:
        raw = "".join(self._inline)
        self._inline.clear()
        lines = (" ".join(line.split()) for line in _clean(raw).split("\n"))
        self._add("\n".join(line for line in lines if line))

    def _add(self, text: str) -> None:
        if text.strip():
            self.sections.append(Section(text, heading=self._headings.current))


def _html_table_text(table: Any) -> str:
    rows: list[list[str]] = []
    for row in table.find_all("tr"):
        if row.find_parent("table") is not table:
            continue  # rows of nested tables are read with their own table's cell text
        cells = [
            _one_line(cell.get_text(" ")) for cell in row.find_all(["th", "td"], recursive=False)
        ]
        if any(cells):
            rows.append(cells)
    return _table_text(rows)


# --------------------------------------------------------------------------- Markdown

_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


class _MarkdownReader:
    def __init__(self) -> None:
        self.sections: list[Section] = []
        self.title: str | None = None
        self._headings = _HeadingPath()
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
            self.title = _one_line(text)
        self._headings.push(level, text)

    def flush(self) -> None:
        block = "\n".join(self._lines).strip("\n")
        self._lines.clear()
        if block.strip():
            self.sections.append(Section(block, heading=self._headings.current))


def _extract_markdown(text: str) -> ExtractedDocument:
    metadata: dict[str, Any] = {}
    body, front_matter = _split_front_matter(text)
    if front_matter is not None:
        metadata["front_matter"] = front_matter
    reader = _MarkdownReader()
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


# --------------------------------------------------------------------------- plain text


def _extract_plain(text: str) -> ExtractedDocument:
    return ExtractedDocument(title=None, sections=[Section(block) for block in _paragraphs(text)])


# --------------------------------------------------------------------------- CSV


def _extract_csv(text: str) -> ExtractedDocument:
    dialect = _csv_dialect(text)
    try:
        rows = [
            [cell.strip() for cell in row]
            for row in csv.reader(io.StringIO(text), dialect)
            if any(cell.strip() for cell in row)
        ]
    except csv.Error as exc:
        raise ExtractionError(f"The CSV file could not be parsed: {exc}.") from exc
    if not rows:
        return ExtractedDocument(title=None, sections=[])
    header, records = rows[0], rows[1:]
    lines = [_record(header, row) for row in records] if records else [" | ".join(header)]
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


# --------------------------------------------------------------------------- JSON


def _extract_json(text: str) -> ExtractedDocument:
    try:
        value = json.loads(text)
        sections = list(_json_sections(value))
    except RecursionError as exc:
        raise ExtractionError("The JSON file is nested too deeply to be read.") from exc
    except ValueError as exc:
        raise ExtractionError(f"The JSON file is not valid JSON: {exc}.") from exc
    return ExtractedDocument(title=None, sections=sections)


def _json_sections(value: Any) -> Iterator[Section]:
    if isinstance(value, list):
        # A list of records: one block per record.
        for item in value:
            yield from _json_block(_json_lines(item, ""), None)
    elif isinstance(value, dict):
        yield from _json_object_sections(value)
    else:
        yield from _json_block(_json_lines(value, ""), None)


def _json_object_sections(value: dict[str, Any]) -> Iterator[Section]:
    """Simple fields together in one block; each nested object or record list its own part."""
    simple: list[str] = []
    for key, item in value.items():
        if _is_record_list(item):
            yield from _json_block(simple, None)
            simple = []
            for record in item:
                yield from _json_block(_json_lines(record, ""), str(key))
        elif isinstance(item, dict) and item:
            yield from _json_block(simple, None)
            simple = []
            yield from _json_block(_json_lines(item, str(key)), str(key))
        else:
            simple.extend(_json_lines(item, str(key)))
    yield from _json_block(simple, None)


def _json_block(lines: Iterable[str], heading: str | None) -> Iterator[Section]:
    text = "\n".join(lines).strip()
    if text:
        yield Section(text, heading=heading)


def _is_record_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def _json_lines(value: Any, prefix: str) -> Iterator[str]:
    """'key: value' lines, nested keys dotted ("address.city"), list items indexed."""
    if isinstance(value, dict):
        if not value:
            yield _json_line(prefix, "{}")
        for key, item in value.items():
            yield from _json_lines(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        if not value:
            yield _json_line(prefix, "[]")
        elif not any(isinstance(item, dict | list) for item in value):
            yield _json_line(prefix, ", ".join(_json_scalar(item) for item in value))
        else:
            for position, item in enumerate(value):
                yield from _json_lines(item, f"{prefix}[{position}]")
    else:
        yield _json_line(prefix, _json_scalar(value))


def _json_line(prefix: str, value: str) -> str:
    return f"{prefix}: {value}" if prefix else value


def _json_scalar(value: Any) -> str:
    return _clean(value) if isinstance(value, str) else json.dumps(value)


_TEXT_EXTRACTORS: dict[str, Callable[[str], ExtractedDocument]] = {
    HTML: _extract_html,
    MARKDOWN: _extract_markdown,
    PLAIN: _extract_plain,
    CSV: _extract_csv,
    JSON: _extract_json,
}

"""What an upload really is, decided by its content and checked against its name.

The file name only states what the user claims: when the claim and the content disagree (a PDF
named .txt, text named .pdf, a zip named .docx) we refuse rather than guess, because a silent
reinterpretation hides mistakes and is a classic way to smuggle unexpected content into a
parser. Among the text formats the extension decides (a .txt full of HTML is indexed as plain
text), except that .json must parse and .html/.htm must contain markup. Files without an
extension are sniffed (PDF, DOCX, JSON, HTML, else plain text); any other extension is refused.
"""

from __future__ import annotations

import io
import json
import re
import struct
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath

from knowledge_base.extraction.errors import EmptyContent, UnsupportedContent
from knowledge_base.extraction.formats import (
    DOCX,
    EXTENSION_TYPES,
    HTML,
    JSON,
    LABELS,
    PDF,
    PLAIN,
    SUPPORTED_FORMATS_TEXT,
)
from knowledge_base.extraction.limits import DEFAULT_LIMITS
from knowledge_base.extraction.text import decode_text, try_decode_text

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
        raise _mismatch(declared, LABELS[PLAIN])
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
        f"The file is named as {LABELS[declared]} but its content is {found}. "
        "Please upload it with the correct file extension."
    )


def _sniff(data: bytes) -> _Sniffed:
    if data[:1024].lstrip(b"\t\n\r\f ")[:5] == _PDF_MAGIC:
        return _Sniffed(PDF, LABELS[PDF])
    if data.startswith(_ZIP_MAGICS):
        return _sniff_zip(data)
    text = try_decode_text(data)
    if text is not None:
        for prefix, label in _TEXT_SIGNATURES:
            if text.lstrip().startswith(prefix):
                return _Sniffed(None, label)
        return _Sniffed(_TEXT_KIND, LABELS[PLAIN])
    if data[4:8] == b"ftyp":
        return _Sniffed(None, "an MP4/MOV/HEIC media file")
    for magic, label in _BINARY_SIGNATURES:
        if data.startswith(magic):
            return _Sniffed(None, label)
    return _Sniffed(None, "binary data (not text)")


def _sniff_zip(data: bytes) -> _Sniffed:
    # Opening an archive reads its whole directory; this runs in the upload request, so an
    # archive claiming more files than any Word document has is refused from its end record
    # (a few bytes) first. The worker applies the configurable limits later.
    entries = _zip_entry_count(data)
    if entries is None:
        return _Sniffed(None, "a damaged ZIP archive")
    if entries > DEFAULT_LIMITS.max_zip_members:
        return _Sniffed(
            None, f"a ZIP archive of more than {DEFAULT_LIMITS.max_zip_members:,} files"
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            content_types = _read_small_member(archive, "[Content_Types].xml", names)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return _Sniffed(None, "a damaged ZIP archive")
    if "word/document.xml" in names:
        if content_types is not None and _DOCX_MAIN_TYPE in content_types:
            return _Sniffed(DOCX, LABELS[DOCX])
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


def _zip_entry_count(data: bytes) -> int | None:
    try:
        end = zipfile._EndRecData(io.BytesIO(data))  # the end-of-directory record, zip64 too
    except (OSError, ValueError, EOFError, struct.error):
        return None
    return None if end is None else end[zipfile._ECD_ENTRIES_TOTAL]


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


def _extension(filename: str) -> str:
    stem, dot, suffix = _basename(filename).rpartition(".")
    return suffix.lower() if dot and stem else ""  # ".bashrc" has no extension


def _basename(filename: str) -> str:
    # Browsers on Windows sometimes send "C:\\Users\\...\\file.pdf".
    return PureWindowsPath(PurePosixPath(filename or "").name).name

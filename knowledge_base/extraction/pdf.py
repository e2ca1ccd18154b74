"""PDF: text page by page (pypdf), soft line wraps rejoined, metadata kept."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from typing import Any

from knowledge_base.extraction.document import ExtractedDocument, Section
from knowledge_base.extraction.errors import DocumentError, ExtractionError
from knowledge_base.extraction.formats import PDF
from knowledge_base.extraction.limits import DEFAULT_LIMITS, ExtractionLimits, too_many
from knowledge_base.extraction.text import clean_text, paragraphs

logger = logging.getLogger(__name__)


def extract_pdf(data: bytes, limits: ExtractionLimits = DEFAULT_LIMITS) -> ExtractedDocument:
    reader = _open_pdf(data)
    try:
        _check_page_count(reader, limits.max_pages)
        page_count = len(reader.pages)
    except DocumentError:
        raise
    except MemoryError:  # the sandbox reports it as the memory limit
        raise
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


def _check_page_count(reader: Any, limit: int) -> None:
    """Count the leaves of the page tree, giving up past `limit`.

    pypdf lists every page before it answers `len(reader.pages)`, and a page tree whose
    nodes share their children lists 2**depth pages from a file of a few KB; the /Count
    entries are the file's own claims, so they are not trusted. Each node visited costs
    budget, so a cyclic or absurdly wide tree ends here too.
    """
    root = reader.trailer["/Root"]["/Pages"].get_object()
    declared = root.get("/Count")
    if isinstance(declared, int) and declared > limit:  # the file's own claim, when too big
        raise too_many("pages", limit)
    stack = [root]
    pages = nodes = 0
    while stack:
        node = stack.pop()
        nodes += 1
        kids = node.get("/Kids") if node.get("/Type") != "/Page" else None
        if kids is None:
            pages += 1
        else:
            stack.extend(kid.get_object() for kid in kids.get_object())
        if pages > limit or nodes > 2 * limit + 100:
            raise too_many("pages", limit)


def _open_pdf(data: bytes) -> Any:
    from pypdf import PasswordType, PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        encrypted = reader.is_encrypted
    except MemoryError:  # the sandbox reports it as the memory limit
        raise
    except Exception as exc:
        raise _pdf_damaged(exc) from exc
    if encrypted:
        # Many "encrypted" PDFs only restrict printing/copying and open with an empty password.
        try:
            result = reader.decrypt("")
        except MemoryError:  # the sandbox reports it as the memory limit
            raise
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
    except MemoryError:  # the sandbox reports it as the memory limit
        raise
    except Exception:
        # One broken page should not cost the rest of the document.
        logger.info("Could not extract text from PDF page %d", number, exc_info=True)
        return None


# A wrapped line: the next line continues the sentence (starts lowercase or with a digit).
_PDF_WRAP = re.compile(r"(?<=[\w,;:)\-])[^\S\n]*\n[^\S\n]*(?=[a-z0-9])")


def _pdf_blocks(page_text: str) -> Iterator[str]:
    """Paragraph-ish blocks of a page, with soft line wraps rejoined into sentences."""
    for block in paragraphs(clean_text(page_text)):
        yield _PDF_WRAP.sub(" ", block)


def _pdf_info(reader: Any) -> dict[str, str]:
    try:
        info = reader.metadata
    except MemoryError:  # the sandbox reports it as the memory limit
        raise
    except Exception:
        return {}
    if not info:
        return {}
    found: dict[str, str] = {}
    for key, attribute in (("title", "title"), ("author", "author"), ("subject", "subject")):
        try:
            value = getattr(info, attribute)
        except MemoryError:  # the sandbox reports it as the memory limit
            raise
        except Exception:  # malformed metadata must not cost the whole document
            logger.info("Unreadable PDF metadata field %r", attribute, exc_info=True)
            continue
        if isinstance(value, str) and value.strip():
            found[key] = value.strip()
    return found

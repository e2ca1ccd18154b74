"""Turn uploaded bytes into structured text for the knowledge base.

Django-free on purpose: plain functions and dataclasses, so workers, scripts and tests can use
it without settings. One module per seam:

* `detect`: what an upload really is, by content, against an allow-list (`detect_content_type`).
* `pdf`, `docx`, `html`, `markdown`, `tabular` (tables and CSV), `structured` (JSON) and `text`
  (plain text and the primitives every format shares): one reader per format.
* `document`: the result, an `ExtractedDocument` of text blocks in reading order, each with its
  page (PDF, 1-based) and heading path ("Guide > Install").

Every failure is a `DocumentError` whose `.message` is safe to show to end users; library
exceptions never escape (they are logged and chained instead).
"""

from __future__ import annotations

from collections.abc import Callable

from knowledge_base.extraction.detect import detect_content_type
from knowledge_base.extraction.document import ExtractedDocument, Section
from knowledge_base.extraction.errors import (
    DocumentError,
    EmptyContent,
    ExtractionError,
    UnsupportedContent,
)
from knowledge_base.extraction.formats import (
    CSV,
    DOCX,
    EXTENSION_TYPES,
    HTML,
    JSON,
    MARKDOWN,
    PDF,
    PLAIN,
    SUPPORTED_CONTENT_TYPES,
    SUPPORTED_FORMATS_TEXT,
    TEXT_CONTENT_TYPES,
)
from knowledge_base.extraction.limits import DEFAULT_LIMITS, ExtractionLimits, LimitExceeded
from knowledge_base.extraction.text import decode_text

__all__ = [
    "CSV",
    "DEFAULT_LIMITS",
    "DOCX",
    "EXTENSION_TYPES",
    "HTML",
    "JSON",
    "MARKDOWN",
    "PDF",
    "PLAIN",
    "SUPPORTED_CONTENT_TYPES",
    "SUPPORTED_FORMATS_TEXT",
    "TEXT_CONTENT_TYPES",
    "DocumentError",
    "EmptyContent",
    "ExtractedDocument",
    "ExtractionError",
    "ExtractionLimits",
    "LimitExceeded",
    "Section",
    "UnsupportedContent",
    "decode_text",
    "detect_content_type",
    "extract",
    "extract_upload",
]


def extract_upload(
    data: bytes, filename: str, limits: ExtractionLimits = DEFAULT_LIMITS
) -> ExtractedDocument:
    """Detect and extract in one call; records the content type in the metadata."""
    content_type = detect_content_type(data, filename)
    document = extract(data, content_type, limits)
    document.metadata.setdefault("content_type", content_type)
    return document


def extract(
    data: bytes,
    content_type: str,
    limits: ExtractionLimits = DEFAULT_LIMITS,
    *,
    main_content: bool = False,
) -> ExtractedDocument:
    """Structured text for `data`, which must be of the (already detected) `content_type`.

    `main_content`: HTML is a fetched web page; only its main content is read (no site
    header, footer, navigation or sidebars).

    In this process, under the element-count `limits` only: `sandbox.extract_isolated` runs
    it in a child process under the CPU and memory limits too (what ingestion does).
    """
    if not data:
        raise EmptyContent("The file is empty.")
    if content_type == PDF:
        from knowledge_base.extraction.pdf import extract_pdf

        return extract_pdf(data, limits)
    if content_type == DOCX:
        from knowledge_base.extraction.docx import extract_docx

        return _non_empty(extract_docx(data, limits))
    extractor = _text_extractor(content_type)
    if extractor is None:
        raise UnsupportedContent(
            f"Content type '{content_type}' is not supported. {SUPPORTED_FORMATS_TEXT}"
        )
    text = decode_text(data)
    if not text.strip():
        raise EmptyContent("The file contains no text.")
    if content_type == HTML and main_content:
        from knowledge_base.extraction.html import extract_html

        document = extract_html(text, limits, main_content=True)
    else:
        document = extractor(text, limits)
    document.metadata.setdefault("content_type", content_type)
    return _non_empty(document)


def _non_empty(document: ExtractedDocument) -> ExtractedDocument:
    if not document.sections:
        raise EmptyContent("The document contains no text.")
    return document


def _text_extractor(
    content_type: str,
) -> Callable[[str, ExtractionLimits], ExtractedDocument] | None:
    # Readers are imported when needed: a worker parsing one PDF never loads bs4 or docx.
    if content_type == HTML:
        from knowledge_base.extraction.html import extract_html

        return extract_html
    if content_type == MARKDOWN:
        from knowledge_base.extraction.markdown import extract_markdown

        return extract_markdown
    if content_type == PLAIN:
        from knowledge_base.extraction.text import extract_plain

        return extract_plain
    if content_type == CSV:
        from knowledge_base.extraction.tabular import extract_csv

        return extract_csv
    if content_type == JSON:
        from knowledge_base.extraction.structured import extract_json

        return extract_json
    return None

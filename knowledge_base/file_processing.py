"""The one extraction of a stored file, shared by knowledge documents and chat
attachments (ADR 0026).

Registered with ``files.processing`` by this app's ``AppConfig.ready`` (files sits
below the knowledge base and cannot import its extraction). Documents are parsed by
``extraction.sandbox.extract_isolated``; tables (CSV, XLSX) summarized by
``datasets.summarize_isolated``; images only measured from their header. All under the
same limits (``extraction_limits``, from settings), and the result written once on the
``File`` (``files.services.file_record_extraction``).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings

from files import services as file_services
from files.detect import image_info
from files.models import File, FileKind
from files.processing import UnsupportedFile
from knowledge_base import datasets, extraction
from knowledge_base.extraction.sandbox import extract_isolated


def detect(data: bytes, name: str) -> str:
    """Documents' content types by the knowledge base's detector, as files' errors."""
    try:
        return extraction.detect_content_type(data, name)
    except extraction.EmptyContent as exc:
        raise UnsupportedFile(exc.message, empty=True) from exc
    except extraction.DocumentError as exc:
        raise UnsupportedFile(exc.message) from exc


def extraction_limits() -> extraction.ExtractionLimits:
    return extraction.ExtractionLimits(
        cpu_seconds=settings.KNOWLEDGE_EXTRACTION_CPU_SECONDS,
        memory_mb=settings.KNOWLEDGE_EXTRACTION_MEMORY_MB,
        max_pages=settings.KNOWLEDGE_EXTRACTION_MAX_PAGES,
        max_paragraphs=settings.KNOWLEDGE_EXTRACTION_MAX_PARAGRAPHS,
        max_rows=settings.KNOWLEDGE_EXTRACTION_MAX_ROWS,
        max_columns=settings.KNOWLEDGE_EXTRACTION_MAX_COLUMNS,
        max_html_elements=settings.KNOWLEDGE_EXTRACTION_MAX_HTML_ELEMENTS,
        max_xml_depth=settings.KNOWLEDGE_EXTRACTION_MAX_XML_DEPTH,
        max_zip_members=settings.KNOWLEDGE_EXTRACTION_MAX_ZIP_MEMBERS,
        max_unpacked_mb=settings.KNOWLEDGE_EXTRACTION_MAX_UNPACKED_MB,
        max_compression_ratio=settings.KNOWLEDGE_EXTRACTION_MAX_COMPRESSION_RATIO,
    )


def file_extract_document(
    *, file: File, data: bytes | None = None, keep_going: Callable[[], bool] | None = None
) -> extraction.ExtractedDocument:
    """Parse a document file (the ingestion pipeline calls this too) and record its text
    on the file. Raises the extraction's DocumentError, after recording it."""
    data = file_services.file_read(file=file) if data is None else data
    try:
        document = extract_isolated(
            data, file.content_type, limits=extraction_limits(), keep_going=keep_going
        )
    except extraction.DocumentError as exc:
        file_services.file_record_extraction(file=file, error=exc.message)
        raise
    file_services.file_record_extraction(
        file=file, text=document.text, page_count=document.page_count
    )
    return document


def file_process(file: File) -> None:
    """Extract ``file`` by its kind and record the result (failures with the reason)."""
    data = file_services.file_read(file=file)
    try:
        if file.kind == FileKind.IMAGE:
            info = image_info(data)
            file_services.file_record_extraction(
                file=file,
                metadata={"width": info["width"], "height": info["height"]},
            )
        elif file.kind == FileKind.TABLE:
            result = datasets.summarize_isolated(
                data, file.content_type, limits=extraction_limits()
            )
            file_services.file_record_extraction(
                file=file, text=result["text"], data_summary=result["summary"]
            )
        else:
            file_extract_document(file=file, data=data)
    except UnsupportedFile as exc:
        file_services.file_record_extraction(file=file, error=exc.message)
    except extraction.DocumentError as exc:
        if file.status != "failed":
            file_services.file_record_extraction(file=file, error=exc.message)

"""Each element limit refuses with its reason (in process, small limits, no database).

The bombs at full size, through a real worker, are in tests/security/.
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from knowledge_base.extraction import (
    CSV,
    DOCX,
    HTML,
    JSON,
    MARKDOWN,
    PLAIN,
    ExtractionLimits,
    LimitExceeded,
    UnsupportedContent,
    detect_content_type,
    extract,
)
from knowledge_base.extraction.sandbox import extract_isolated
from tests.security import bombs


def _docx(body: bytes) -> bytes:
    return bombs.docx_with_body(body)


def _refused(data: bytes, content_type: str, **limits: int) -> str:
    with pytest.raises(LimitExceeded) as refused:
        extract(data, content_type, ExtractionLimits(**limits))
    return refused.value.message


def test_docx_paragraphs_are_counted_before_parsing() -> None:
    data = _docx(b"<w:p><w:r><w:t>a</w:t></w:r></w:p>" * 11)
    assert _refused(data, DOCX, max_paragraphs=10) == (
        "The document has more than 10 paragraphs (limit 10)."
    )
    assert len(extract(data, DOCX, ExtractionLimits(max_paragraphs=11)).sections) == 11


def test_docx_xml_depth() -> None:
    nested = b"<w:p><w:r><w:t>deep</w:t></w:r></w:p>"
    for _ in range(30):
        nested = b"<w:sdt><w:sdtContent>" + nested + b"</w:sdtContent></w:sdt>"
    message = _refused(_docx(nested), DOCX, max_xml_depth=40)
    assert message == "The Word document's XML is nested more than 40 levels deep (limit 40)."


def test_docx_table_rows_and_columns() -> None:
    cell = b"<w:tc><w:p><w:r><w:t>x</w:t></w:r></w:p></w:tc>"
    table = b"<w:tbl>" + (b"<w:tr>" + cell * 6 + b"</w:tr>") * 3 + b"</w:tbl>"
    assert "more than 5 table columns" in _refused(_docx(table), DOCX, max_columns=5)
    assert "more than 2 table rows" in _refused(_docx(table), DOCX, max_rows=2)


def test_docx_member_count_and_compression_ratio_from_the_directory() -> None:
    honest = _docx(b"<w:p><w:r><w:t>a</w:t></w:r></w:p>")
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(honest)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            target.writestr(info.filename, source.read(info))
        target.writestr("word/media/blank.bin", b"\0" * (4 * 1024 * 1024))  # ~1000x
    data = out.getvalue()
    assert "contains more than 5 files" in _refused(data, DOCX, max_zip_members=5)
    assert "compressed more than 500 times" in _refused(data, DOCX)


def test_docx_billion_laughs_is_refused_without_expanding() -> None:
    _, data = bombs.docx_billion_laughs()
    assert "document type declaration (DTD)" in _refused(data, DOCX)


def test_text_formats_count_their_blocks() -> None:
    blocks = "\n\n".join(f"Block {n}." for n in range(6)).encode()
    assert "more than 5 paragraphs" in _refused(blocks, PLAIN, max_paragraphs=5)
    assert "more than 5 paragraphs" in _refused(blocks, MARKDOWN, max_paragraphs=5)
    page = "".join(f"<p>Block {n}.</p>" for n in range(6)).encode()
    assert "more than 5 paragraphs" in _refused(page, HTML, max_paragraphs=5)
    assert "more than 10 HTML elements" in _refused(page, HTML, max_html_elements=10)
    records = json.dumps([{"n": n} for n in range(6)]).encode()
    assert "more than 5 records" in _refused(records, JSON, max_paragraphs=5)


def test_csv_rows_and_columns() -> None:
    data = b"a,b,c\n" + b"1,2,3\n" * 4
    assert _refused(data, CSV, max_rows=3) == "The document has more than 3 rows (limit 3)."
    assert _refused(data, CSV, max_columns=2) == "The document has more than 2 columns (limit 2)."
    assert extract(data, CSV, ExtractionLimits(max_rows=4, max_columns=3)).metadata["row_count"]


def test_pdf_pages_even_when_the_file_claims_fewer() -> None:
    _, data = bombs.pdf_many_pages(depth=5, honest_count=False)  # 32 pages, /Count 1
    assert _refused(data, "application/pdf", max_pages=20) == (
        "The document has more than 20 pages (limit 20)."
    )


def test_an_archive_of_many_files_is_refused_at_upload_from_its_end_record() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for n in range(2001):
            archive.writestr(f"{n}", b"")
    with pytest.raises(UnsupportedContent) as refused:
        detect_content_type(out.getvalue(), "many.docx")
    assert "a ZIP archive of more than 2,000 files" in refused.value.message


def test_the_sandbox_returns_what_extract_returns() -> None:
    data = b"# Guide\n\nFirst part.\n\n## Install\n\nSecond part."
    assert extract_isolated(data, MARKDOWN) == extract(data, MARKDOWN)


def test_the_sandbox_passes_limits_and_reasons_through() -> None:
    data = "\n\n".join(f"Block {n}." for n in range(6)).encode()
    with pytest.raises(LimitExceeded) as refused:
        extract_isolated(data, PLAIN, limits=ExtractionLimits(max_paragraphs=5))
    assert refused.value.message == "The document has more than 5 paragraphs (limit 5)."


def test_html_never_expands_declared_entities() -> None:
    entities = "".join(
        f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10 if n else "lol"}">' for n in range(10)
    )
    page = f"<!DOCTYPE html [{entities}]><html><body><p>Hi &lol9;</p></body></html>".encode()
    document = extract(page, HTML)
    assert len(document.text) < 1000
    assert "lollol" not in document.text


def test_a_worker_killed_mid_parse_leaves_no_parse_running() -> None:
    import subprocess
    import sys
    import time
    from pathlib import Path

    import psutil

    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from tests.security import bombs\n"
            "from knowledge_base.extraction import DOCX, ExtractionLimits\n"
            "from knowledge_base.extraction.sandbox import extract_isolated\n"
            "name, data = bombs.docx_tiny_paragraphs()\n"
            "extract_isolated(data, DOCX, limits=ExtractionLimits(max_paragraphs=10**8))\n",
        ],
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        deadline = time.monotonic() + 60
        # the fork server, and the parse it forked
        while (
            len(psutil.Process(worker.pid).children(recursive=True)) < 2
            and time.monotonic() < deadline
        ):
            time.sleep(0.1)
        [server] = psutil.Process(worker.pid).children()
        [parse] = server.children()
    finally:
        worker.kill()
        worker.wait()
    # both end with their worker: neither parses on
    server.wait(timeout=10)
    psutil.wait_procs([parse], timeout=10)
    assert not parse.is_running()

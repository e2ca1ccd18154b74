"""Extraction and content sniffing on real files built in the tests (no database, no network)."""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import docx
import pytest
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

from knowledge_base.extraction import (
    CSV,
    DOCX,
    HTML,
    JSON,
    MARKDOWN,
    PDF,
    PLAIN,
    DocumentError,
    EmptyContent,
    ExtractedDocument,
    ExtractionError,
    Section,
    UnsupportedContent,
    detect_content_type,
    extract,
    extract_upload,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- builders


def make_pdf(pages: list[str], title: str | None = None) -> bytes:
    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    if title:
        pdf.set_title(title)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 7, text)
    return bytes(pdf.output())


def encrypt_pdf(data: bytes, user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password, owner_password="owner-secret", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_docx() -> bytes:
    document = docx.Document()
    document.core_properties.title = ""
    document.add_paragraph("Handbook", style="Title")
    document.add_paragraph("Welcome to the handbook.")
    document.add_heading("Getting started", level=1)
    document.add_paragraph("Install the agent first.")
    document.add_heading("Requirements", level=2)
    document.add_paragraph("You need Python 3.11.")
    table = document.add_table(rows=3, cols=3)
    for row, values in enumerate(
        [("Name", "Role", "Office"), ("Ann", "Admin", ""), ("Bob", "Member", "Paris")]
    ):
        for column, value in enumerate(values):
            table.cell(row, column).text = value
    document.add_heading("Support", level=1)
    document.add_paragraph("Write to the help desk.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()


PAGES = [
    "Alpha page talks about apples. " * 5,
    "Bravo page talks about bananas. " * 5,
    "Charlie page talks about cherries. " * 5,
]


@pytest.fixture(scope="module")
def pdf_bytes() -> bytes:
    return make_pdf(PAGES, title="Fruit report")


@pytest.fixture(scope="module")
def docx_bytes() -> bytes:
    return make_docx()


# --------------------------------------------------------------------------- PDF


def test_pdf_pages_are_numbered_from_one(pdf_bytes: bytes) -> None:
    assert detect_content_type(pdf_bytes, "report.pdf") == PDF
    document = extract(pdf_bytes, PDF)

    assert document.page_count == 3
    assert document.title == "Fruit report"
    assert {section.page for section in document.sections} == {1, 2, 3}
    for section in document.sections:
        marker = {1: "apples", 2: "bananas", 3: "cherries"}[section.page]
        assert marker in section.text
        assert section.heading is None
    assert [section.page for section in document.sections] == sorted(
        section.page for section in document.sections
    )


def test_pdf_soft_line_wraps_are_rejoined(pdf_bytes: bytes) -> None:
    document = extract(pdf_bytes, PDF)
    # multi_cell wraps the long line; the sentence must read as one line again.
    assert "talks about apples. Alpha page" in document.sections[0].text


def test_encrypted_pdf_is_reported(pdf_bytes: bytes) -> None:
    encrypted = encrypt_pdf(pdf_bytes, "s3cret")
    assert detect_content_type(encrypted, "locked.pdf") == PDF
    with pytest.raises(ExtractionError) as caught:
        extract(encrypted, PDF)
    assert caught.value.message.startswith("The PDF is encrypted")


def test_pdf_encrypted_with_empty_user_password_is_read(pdf_bytes: bytes) -> None:
    # Restriction-only encryption: opens without a password, so we must read it.
    document = extract(encrypt_pdf(pdf_bytes, ""), PDF)
    assert "cherries" in document.text
    assert document.page_count == 3


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_truncated_pdf_is_an_extraction_error(pdf_bytes: bytes, fraction: float) -> None:
    truncated = pdf_bytes[: int(len(pdf_bytes) * fraction)]
    assert detect_content_type(truncated, "broken.pdf") == PDF
    with pytest.raises(ExtractionError) as caught:
        extract(truncated, PDF)
    assert "damaged" in caught.value.message
    assert "Traceback" not in caught.value.message


def test_pdf_magic_followed_by_garbage_is_an_extraction_error() -> None:
    garbage = b"%PDF-1.7\n" + random.Random(7).randbytes(4000)
    with pytest.raises(ExtractionError):
        extract(garbage, PDF)


def test_pdf_without_text_layer_is_reported_as_scanned() -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 60, style="F")  # an "image" of a page, no text
    with pytest.raises(ExtractionError) as caught:
        extract(bytes(pdf.output()), PDF)
    assert "no extractable text" in caught.value.message
    assert "scanned" in caught.value.message


# --------------------------------------------------------------------------- DOCX


def test_docx_headings_tables_and_order(docx_bytes: bytes) -> None:
    assert detect_content_type(docx_bytes, "Handbook.DOCX") == DOCX
    document = extract(docx_bytes, DOCX)

    assert document.title == "Handbook"
    assert document.page_count is None
    assert [(section.heading, section.text) for section in document.sections] == [
        ("Handbook", "Welcome to the handbook."),
        ("Handbook > Getting started", "Install the agent first."),
        ("Handbook > Getting started > Requirements", "You need Python 3.11."),
        (
            "Handbook > Getting started > Requirements",
            "Name: Ann; Role: Admin\nName: Bob; Role: Member; Office: Paris",
        ),
        ("Handbook > Support", "Write to the help desk."),
    ]


def test_truncated_docx_is_rejected(docx_bytes: bytes) -> None:
    truncated = docx_bytes[: len(docx_bytes) // 2]
    with pytest.raises(UnsupportedContent, match="damaged"):
        detect_content_type(truncated, "broken.docx")
    with pytest.raises(ExtractionError) as caught:
        extract(truncated, DOCX)
    assert "Word document is damaged" in caught.value.message


def test_docx_with_corrupt_xml_is_an_extraction_error(docx_bytes: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(docx_bytes)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["word/document.xml"] = b"<w:document><w:body><w:p>unclosed"
    corrupt = make_zip(members)
    assert detect_content_type(corrupt, "corrupt.docx") == DOCX  # the package looks right
    with pytest.raises(ExtractionError, match="damaged"):
        extract(corrupt, DOCX)


def test_docx_without_text_is_empty() -> None:
    out = io.BytesIO()
    docx.Document().save(out)
    with pytest.raises(EmptyContent):
        extract(out.getvalue(), DOCX)


# --------------------------------------------------------------------------- HTML

HTML_PAGE = """<!DOCTYPE html>
<html>
<head><title>Product guide</title><style>body { color: red; }</style>
<script>var secret = "do not index";</script></head>
<body>
<nav><a href="/">Home</a> <a href="/pricing">Pricing menu</a></nav>
<h1>Widgets</h1>
<p>Widgets are <b>great</b>.<br>They never break.</p>
<div hidden>hidden text</div>
<h2>Sizes</h2>
<ul><li>Small</li><li>Large</li></ul>
<table><tr><th>Size</th><th>Price</th></tr><tr><td>S</td><td>5</td></tr></table>
<script>track("page view")</script>
<h2>Colours</h2>
<p>Blue &amp; green.</p>
</body></html>
"""


def test_html_headings_kept_and_boilerplate_removed() -> None:
    data = HTML_PAGE.encode()
    assert detect_content_type(data, "guide.html") == HTML
    assert detect_content_type(data, "guide") == HTML  # sniffed without extension
    document = extract(data, HTML)

    assert document.title == "Product guide"
    assert [(section.heading, section.text) for section in document.sections] == [
        ("Widgets", "Widgets are great.\nThey never break."),
        ("Widgets > Sizes", "Small"),
        ("Widgets > Sizes", "Large"),
        ("Widgets > Sizes", "Size: S; Price: 5"),
        ("Widgets > Colours", "Blue & green."),
    ]
    for unwanted in ("secret", "track", "Pricing menu", "color", "hidden text"):
        assert unwanted not in document.text


def test_deeply_nested_html_does_not_hit_recursion_limit() -> None:
    data = ("<div>" * 5000 + "deep text" + "</div>" * 5000).encode()
    document = extract(data, HTML)
    assert document.text == "deep text"


# --------------------------------------------------------------------------- Markdown, text

MARKDOWN_TEXT = """---
title: Setup notes
---
Intro paragraph.

# Install

Run the installer.
It takes a minute.

```bash
# not a heading
make install
```

## Linux
Use the package.

Windows
-------
Use the MSI.
"""


def test_markdown_headings_and_code_fences() -> None:
    data = MARKDOWN_TEXT.encode()
    assert detect_content_type(data, "notes.md") == MARKDOWN
    document = extract(data, MARKDOWN)

    assert document.title == "Install"
    assert document.metadata["front_matter"] == "title: Setup notes"
    assert [(section.heading, section.text) for section in document.sections] == [
        (None, "Intro paragraph."),
        ("Install", "Run the installer.\nIt takes a minute."),
        ("Install", "```bash\n# not a heading\nmake install\n```"),
        ("Install > Linux", "Use the package."),
        ("Install > Windows", "Use the MSI."),
    ]


def test_plain_text_paragraphs_with_crlf() -> None:
    data = b"First paragraph\r\nstill first.\r\n\r\n\r\nSecond one.\r\n"
    assert detect_content_type(data, "notes.txt") == PLAIN
    document = extract(data, PLAIN)
    assert [section.text for section in document.sections] == [
        "First paragraph\nstill first.",
        "Second one.",
    ]
    assert document.title is None


# --------------------------------------------------------------------------- CSV, JSON


def test_csv_rows_become_records_in_blocks() -> None:
    rows = ["name;city;note"] + [f"Person {n};City {n};" for n in range(45)]
    data = "\n".join(rows).encode()
    assert detect_content_type(data, "people.csv") == CSV
    document = extract(data, CSV)

    assert document.metadata["columns"] == ["name", "city", "note"]
    assert document.metadata["row_count"] == 45
    assert [len(section.text.splitlines()) for section in document.sections] == [20, 20, 5]
    assert document.sections[0].text.splitlines()[0] == "name: Person 0; city: City 0"


def test_csv_with_quoted_commas() -> None:
    data = b'product,description\nLamp,"Bright, warm light"\n'
    document = extract(data, CSV)
    assert document.text == "product: Lamp; description: Bright, warm light"


def test_json_list_of_objects_one_block_each() -> None:
    records = [
        {"name": "Ann", "address": {"city": "Paris", "zip": "75001"}, "tags": ["a", "b"]},
        {"name": "Bob", "active": True, "score": None},
    ]
    data = json.dumps(records).encode()
    assert detect_content_type(data, "people.json") == JSON
    document = extract(data, JSON)

    assert [section.text for section in document.sections] == [
        "name: Ann\naddress.city: Paris\naddress.zip: 75001\ntags: a, b",
        "name: Bob\nactive: true\nscore: null",
    ]


def test_json_nested_object_is_flattened_with_dotted_keys() -> None:
    payload = {
        "company": "Acme",
        "founded": 1999,
        "hq": {"address": {"city": "Lyon"}, "phones": ["1", "2"]},
        "staff": [{"name": "Eve", "skills": {"main": "ops"}}, {"name": "Dan"}],
    }
    document = extract(json.dumps(payload).encode(), JSON)

    assert [(section.heading, section.text) for section in document.sections] == [
        (None, "company: Acme\nfounded: 1999"),
        ("hq", "hq.address.city: Lyon\nhq.phones: 1, 2"),
        ("staff", "name: Eve\nskills.main: ops"),
        ("staff", "name: Dan"),
    ]


def test_json_without_extension_is_sniffed() -> None:
    assert detect_content_type(b'{"a": 1}', "export") == JSON


# --------------------------------------------------------------------------- sniffing


def test_binary_junk_named_txt_is_rejected() -> None:
    junk = random.Random(1).randbytes(2048)
    with pytest.raises(UnsupportedContent, match="binary data"):
        detect_content_type(junk, "notes.txt")


def test_text_with_many_control_characters_is_rejected() -> None:
    data = ("ab\x01\x02" * 100).encode()
    with pytest.raises(UnsupportedContent):
        detect_content_type(data, "notes.txt")


def test_nul_bytes_mean_binary() -> None:
    with pytest.raises(UnsupportedContent):
        detect_content_type(b"hello\x00world", "notes.txt")


@pytest.mark.parametrize("filename", ["paper.txt", "paper.md", "paper.docx", "paper.json"])
def test_pdf_under_another_extension_is_rejected(pdf_bytes: bytes, filename: str) -> None:
    with pytest.raises(UnsupportedContent) as caught:
        detect_content_type(pdf_bytes, filename)
    assert "a PDF document" in caught.value.message
    assert "paper" not in caught.value.message  # callers prefix the (user-controlled) name


def test_text_named_pdf_is_rejected() -> None:
    with pytest.raises(UnsupportedContent) as caught:
        detect_content_type(b"Just some notes, not a PDF.", "notes.pdf")
    assert "named as a PDF document but its content is plain text" in caught.value.message


def test_docx_named_pdf_is_rejected(docx_bytes: bytes) -> None:
    with pytest.raises(UnsupportedContent, match="Word document"):
        detect_content_type(docx_bytes, "handbook.pdf")


def test_zip_that_is_not_docx_is_rejected() -> None:
    archive = make_zip({"readme.txt": b"hello", "data/values.csv": b"a,b\n1,2\n"})
    with pytest.raises(UnsupportedContent, match="a ZIP archive"):
        detect_content_type(archive, "archive.docx")
    with pytest.raises(UnsupportedContent, match="a ZIP archive"):
        detect_content_type(archive, "archive")


def test_excel_workbook_is_named_in_the_message() -> None:
    workbook = make_zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"})
    with pytest.raises(UnsupportedContent, match="Excel workbook"):
        detect_content_type(workbook, "sheet.docx")


def test_macro_enabled_word_file_is_rejected() -> None:
    content_types = b'<Types><Override ContentType="application/vnd.ms-word.document.macroEnabled.main+xml"/></Types>'
    docm = make_zip({"[Content_Types].xml": content_types, "word/document.xml": b"<w:document/>"})
    with pytest.raises(UnsupportedContent, match="macro-enabled"):
        detect_content_type(docm, "letter.docx")


@pytest.mark.parametrize(
    ("data", "label"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "PNG image"),
        (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff", "Windows executable"),
        (b"\x7fELF\x02\x01\x01\x00" + bytes(32), "Linux executable"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64), "legacy or password-protected Office"),
        (b"{\\rtf1\\ansi Hello}", "RTF document"),
    ],
)
def test_unsupported_formats_are_named(data: bytes, label: str) -> None:
    for filename in ("upload.txt", "upload"):
        with pytest.raises(UnsupportedContent) as caught:
            detect_content_type(data, filename)
        assert label in caught.value.message


def test_unknown_extension_is_rejected_even_for_text() -> None:
    with pytest.raises(UnsupportedContent, match=r"'\.exe' are not supported"):
        detect_content_type(b"plain words", "setup.exe")


def test_empty_file_is_rejected() -> None:
    with pytest.raises(EmptyContent):
        detect_content_type(b"", "empty.txt")
    with pytest.raises(EmptyContent):
        detect_content_type(b" \n\t\n", "blank.md")
    with pytest.raises(EmptyContent):
        detect_content_type(b"\xef\xbb\xbf", "bom-only.txt")
    with pytest.raises(EmptyContent):
        extract(b"", PLAIN)


def test_utf8_bom_is_accepted_and_stripped() -> None:
    data = "\ufeffCafé au lait.\n\nZweiter Absatz.".encode()
    assert data.startswith(b"\xef\xbb\xbf")
    assert detect_content_type(data, "menu.txt") == PLAIN
    document = extract(data, PLAIN)
    assert document.sections[0].text == "Café au lait."
    assert not document.text.startswith("\ufeff")


def test_utf8_bom_json_is_accepted() -> None:
    data = b'\xef\xbb\xbf[{"a": 1}]'
    assert detect_content_type(data, "data.json") == JSON
    assert extract(data, JSON).text == "a: 1"


def test_utf16_with_bom_is_accepted() -> None:
    data = "Grüße aus Köln.".encode("utf-16")
    assert detect_content_type(data, "greeting.txt") == PLAIN
    assert extract(data, PLAIN).text == "Grüße aus Köln."


def test_latin1_text_is_rejected_with_an_encoding_hint() -> None:
    with pytest.raises(UnsupportedContent):
        detect_content_type("Grüße aus Köln".encode("latin-1"), "greeting.txt")
    with pytest.raises(UnsupportedContent, match="UTF-8"):
        extract("Grüße aus Köln".encode("latin-1"), PLAIN)


def test_invalid_json_is_rejected() -> None:
    with pytest.raises(UnsupportedContent, match="not valid JSON"):
        detect_content_type(b"{'single': quotes}", "data.json")


def test_html_extension_requires_markup() -> None:
    with pytest.raises(UnsupportedContent, match="no HTML markup"):
        detect_content_type(b"just words", "page.html")
    assert detect_content_type(b"<p>fragment</p>", "page.htm") == HTML


def test_extension_decides_among_text_formats() -> None:
    # HTML saved as .txt is still text; we index it as plain text rather than refuse it.
    assert detect_content_type(HTML_PAGE.encode(), "page.txt") == PLAIN
    assert detect_content_type(b"# Title\n\ntext", "notes") == PLAIN
    assert detect_content_type(b"a,b\n1,2\n", "table.CSV") == CSV


def test_windows_paths_in_filenames() -> None:
    assert detect_content_type(b"hello", "C:\\Users\\ann\\notes.txt") == PLAIN
    with pytest.raises(UnsupportedContent) as caught:
        detect_content_type(b"hello", "C:\\Users\\ann\\notes.pdf")
    assert "Users" not in caught.value.message


# --------------------------------------------------------------------------- API surface


def test_extract_upload_detects_then_extracts(docx_bytes: bytes) -> None:
    document = extract_upload(docx_bytes, "handbook.docx")
    assert isinstance(document, ExtractedDocument)
    assert document.metadata["content_type"] == DOCX
    assert all(isinstance(section, Section) for section in document.sections)


def test_unknown_content_type_in_extract() -> None:
    with pytest.raises(UnsupportedContent):
        extract(b"data", "image/png")


def test_errors_share_a_base_with_a_user_message() -> None:
    for error_type in (UnsupportedContent, EmptyContent, ExtractionError):
        error = error_type("Readable message.")
        assert isinstance(error, DocumentError)
        assert error.message == "Readable message." == str(error)


def test_modules_import_without_django_or_parsers() -> None:
    code = (
        "import sys, knowledge_base.extraction, knowledge_base.chunking; "
        "loaded = [m for m in sys.modules if m.split('.')[0] in "
        "('django', 'pypdf', 'docx', 'bs4', 'tiktoken')]; "
        "assert not loaded, loaded"
    )
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_a_web_pages_main_content_leaves_its_chrome_out_and_uploads_keep_everything():
    from knowledge_base.extraction.html import extract_html

    page = (
        "<html><head><title>T</title></head><body>"
        "<header>Site header</header><div role='navigation'>Menu links</div>"
        "<form>Newsletter signup</form>"
        "<article><h2>Intro</h2><p>The article text.</p></article>"
        "<aside>Related posts</aside><footer>Copyright</footer></body></html>"
    )
    main = extract_html(page, main_content=True).text
    assert main == "The article text."  # the one <article>, nothing around it
    everything = extract_html(page).text  # an uploaded HTML file: all its visible text
    for text in ("Site header", "Newsletter signup", "Related posts", "Copyright"):
        assert text in everything
    with_main = (
        "<body><nav>x</nav><header>h</header><main><p>Body.</p><footer>f</footer></main></body>"
    )
    assert extract_html(with_main, main_content=True).text == "Body."

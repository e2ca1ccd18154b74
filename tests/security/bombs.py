"""Hostile documents, built in memory by the tests (small on disk, huge once parsed).

Each builder returns ``(file name, bytes)``. They are real files: the DOCX bombs start from a
document python-docx writes, so only the hostile part differs from an honest upload.
"""

from __future__ import annotations

import io
import zipfile
import zlib

import docx

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def docx_with_body(body: bytes | None = None, *, document_xml: bytes | None = None) -> bytes:
    """A real .docx whose word/document.xml is replaced (deflated at the highest level)."""
    template = io.BytesIO()
    docx.Document().save(template)
    if document_xml is None:
        document_xml = (
            b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            b'<w:document xmlns:w="'
            + _W.encode()
            + b'"><w:body>'
            + body
            + b"</w:body></w:document>"
        )
    out = io.BytesIO()
    with (
        zipfile.ZipFile(template) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target,
    ):
        for info in source.infolist():
            data = document_xml if info.filename == "word/document.xml" else source.read(info)
            target.writestr(info.filename, data)
    return out.getvalue()


def docx_tiny_paragraphs(megabytes: int = 40) -> tuple[str, bytes]:
    """The issue's bomb: ~40 MB of XML made of one-letter paragraphs (~1.2 M of them)."""
    paragraph = b"<w:p><w:r><w:t>a</w:t></w:r></w:p>"
    return "paragraphs.docx", docx_with_body(
        paragraph * (megabytes * 1024 * 1024 // len(paragraph))
    )


def docx_zip_bomb(gigabytes: float = 1.0) -> tuple[str, bytes]:
    """A .docx whose document.xml inflates to ~1 GB of blanks (about 1 MB on disk).

    The deflate stream is written by hand from one compressed block repeated, so building
    it costs a few MB of memory, not the gigabyte it declares.
    """
    head = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<w:document xmlns:w="' + _W.encode() + b'"><w:body><w:p><w:r><w:t>'
    )
    tail = b"</w:t></w:r></w:p></w:body></w:document>"
    size = int(gigabytes * 1024**3)
    block = b" " * (16 * 1024 * 1024)
    # After a full flush deflate forgets its history, so the same block compresses to the
    # same bytes every time: compress it once and repeat it.
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    parts = [compressor.compress(head) + compressor.flush(zlib.Z_FULL_FLUSH)]
    packed_block = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc, written = zlib.crc32(head), len(head)
    while written + len(block) <= size:
        parts.append(packed_block)
        crc, written = zlib.crc32(block, crc), written + len(block)
    parts.append(compressor.compress(tail) + compressor.flush())
    crc, written = zlib.crc32(tail, crc), written + len(tail)
    return "bomb.docx", _zip_replacing(
        docx_with_body(b"<w:p/>"), "word/document.xml", b"".join(parts), written, crc
    )


def _zip_replacing(archive: bytes, member: str, deflated: bytes, size: int, crc: int) -> bytes:
    """`archive` with `member` replaced by an already deflated stream (sizes and CRC given)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(archive)) as source:
        entries = [(info, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in entries:
            if info.filename != member:
                target.writestr(info.filename, data)
                continue
            fake = zipfile.ZipInfo(member, date_time=info.date_time)
            fake.compress_type = zipfile.ZIP_DEFLATED
            with target.open(fake, "w", force_zip64=True) as handle:
                # The stream is already deflated: pass it through, then state the sizes and
                # CRC of what it inflates to (zipfile writes them into the headers on close).
                handle._compressor = _PassThrough()
                handle.write(deflated)
                handle._file_size = size
                handle._crc = crc
    return out.getvalue()


class _PassThrough:
    def compress(self, data: bytes) -> bytes:
        return data

    def flush(self) -> bytes:
        return b""


def docx_billion_laughs(levels: int = 10) -> tuple[str, bytes]:
    """Word XML with nested entities: "lol" * 10**levels once expanded (a billion at 9)."""
    entities = [b'<!ENTITY lol0 "lol">']
    entities += [
        b'<!ENTITY lol%d "%s">' % (n, b"".join(b"&lol%d;" % (n - 1) for _ in range(10)))
        for n in range(1, levels + 1)
    ]
    document_xml = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b"<!DOCTYPE w:document [" + b"".join(entities) + b"]>"
        b'<w:document xmlns:w="' + _W.encode() + b'"><w:body><w:p><w:r><w:t>'
        b"&lol%d;</w:t></w:r></w:p></w:body></w:document>" % levels
    )
    return "laughs.docx", docx_with_body(document_xml=document_xml)


def pdf_many_pages(depth: int = 17, *, honest_count: bool = True) -> tuple[str, bytes]:
    """A PDF of 2**depth (131,072) pages in about 2 KB: each page-tree node lists its child twice.

    The page tree is a chain of shared nodes, so the file stays tiny while a reader
    that walks it sees every page. Without `honest_count` every node claims /Count 1, so
    only walking the tree reveals its size.
    """
    objects: list[bytes] = []
    # 1: catalog, 2: root Pages, 3..: shared intermediate nodes, then the page and its content.
    node_ids = list(range(2, 2 + depth))
    page_id = 2 + depth
    content_id = page_id + 1
    font_id = content_id + 1
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    for level in range(depth):
        child = node_ids[level + 1] if level + 1 < depth else page_id
        count = 2 ** (depth - level) if honest_count else 1
        parent = b"" if level == 0 else b" /Parent %d 0 R" % node_ids[level - 1]
        objects.append(
            b"<< /Type /Pages /Kids [%d 0 R %d 0 R] /Count %d%s >>" % (child, child, count, parent)
        )
    objects.append(
        b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 200 200] /Contents %d 0 R "
        b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (node_ids[-1], content_id, font_id)
    )
    stream = b"BT /F1 12 Tf 20 100 Td (Page text) Tj ET"
    objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return "pages.pdf", out.getvalue()


def csv_many_columns(columns: int = 1_000_000) -> tuple[str, bytes]:
    """A header and one row, each a million columns wide (~4 MB)."""
    header = ",".join(f"c{n}" for n in range(columns))
    row = ",".join("x" for _ in range(columns))
    return "wide.csv", f"{header}\n{row}\n".encode()

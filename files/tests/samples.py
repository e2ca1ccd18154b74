"""Real files built in memory for the tests (no fixtures on disk)."""

import io


def png(width: int = 40, height: int = 30, color=(200, 30, 30)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


def pdf(text: str) -> bytes:
    from fpdf import FPDF

    document = FPDF()
    document.add_page()
    document.set_font("helvetica", size=12)
    document.multi_cell(0, 8, text)
    return bytes(document.output())


def named(name: str, data: bytes):
    handle = io.BytesIO(data)
    handle.name = name
    return handle

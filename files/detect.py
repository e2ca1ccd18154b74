"""What an upload is, by its content: images and spreadsheets here, every other
document type by the knowledge base's detector (files.processing).

Images are recognised by their signature and opened by Pillow for their header only
(format and size, nothing decoded); a spreadsheet is a ZIP whose directory names an
Excel workbook. As for documents, a name that contradicts the content is refused.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import PurePosixPath, PureWindowsPath

from files.processing import UnsupportedFile, detect_document

PNG, JPEG, GIF, WEBP = "image/png", "image/jpeg", "image/gif", "image/webp"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv"
IMAGE_TYPES = frozenset({PNG, JPEG, GIF, WEBP})
TABLE_TYPES = frozenset({CSV, XLSX})

_IMAGE_EXTENSIONS = {"png": PNG, "jpg": JPEG, "jpeg": JPEG, "gif": GIF, "webp": WEBP}
_PILLOW_FORMATS = {"PNG": PNG, "JPEG": JPEG, "GIF": GIF, "WEBP": WEBP}
_XLSX_MAIN = b"spreadsheetml.sheet.main+xml"
MAX_XLSX_MEMBERS = 2_000


def _extension(name: str) -> str:
    base = PureWindowsPath(PurePosixPath(name or "").name).name
    stem, dot, suffix = base.rpartition(".")
    return suffix.lower() if dot and stem else ""


def _image_signature(data: bytes) -> bool:
    return (
        data.startswith(b"\x89PNG\r\n\x1a\n")
        or data.startswith(b"\xff\xd8\xff")
        or data[:6] in (b"GIF87a", b"GIF89a")
        or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")
    )


def image_info(data: bytes) -> dict:
    """Format and size from the image's header; UnsupportedFile if it is not one."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            content_type = _PILLOW_FORMATS.get(image.format or "")
            width, height = image.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise UnsupportedFile("The image is damaged or not a PNG, JPEG, GIF or WebP.") from exc
    if content_type is None:
        raise UnsupportedFile("Only PNG, JPEG, GIF and WebP images are supported.")
    from django.conf import settings

    if width * height > settings.FILES_IMAGE_MAX_PIXELS:
        raise UnsupportedFile(
            f"The image is {width:,} x {height:,} pixels; the limit is "
            f"{settings.FILES_IMAGE_MAX_PIXELS:,} pixels."
        )
    return {"content_type": content_type, "width": width, "height": height}


def _is_xlsx(data: bytes) -> bool:
    if not data.startswith(b"PK\x03\x04"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_XLSX_MEMBERS:
                raise UnsupportedFile(
                    f"The workbook has more than {MAX_XLSX_MEMBERS:,} parts; it is refused."
                )
            names = {info.filename for info in infos}
            if "xl/workbook.xml" not in names or "[Content_Types].xml" not in names:
                return False
            with archive.open("[Content_Types].xml") as handle:
                return _XLSX_MAIN in handle.read(1024 * 1024)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False


def detect_file_type(data: bytes, name: str) -> str:
    """The content type of an upload, or UnsupportedFile with the reason."""
    if not data:
        raise UnsupportedFile("The file is empty.", empty=True)
    extension = _extension(name)
    if _image_signature(data):
        content_type = image_info(data)["content_type"]
        declared = _IMAGE_EXTENSIONS.get(extension)
        if extension and declared is None:
            raise UnsupportedFile(
                f"The file is named '.{extension}' but its content is an image; "
                "upload it with its image extension."
            )
        return content_type
    if _is_xlsx(data):
        if extension not in ("", "xlsx"):
            raise UnsupportedFile(
                f"The file is named '.{extension}' but its content is an Excel workbook."
            )
        return XLSX
    if extension == "xlsx":
        raise UnsupportedFile("The file is named .xlsx but is not an Excel workbook.")
    if extension in _IMAGE_EXTENSIONS:
        raise UnsupportedFile(f"The file is named '.{extension}' but is not an image.")
    return detect_document(data, name)


def kind_of(content_type: str) -> str:
    from files.models import FileKind

    if content_type in IMAGE_TYPES:
        return FileKind.IMAGE
    if content_type in TABLE_TYPES:
        return FileKind.TABLE
    return FileKind.DOCUMENT

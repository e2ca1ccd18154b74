"""The browser extension (integrations/browser_extension/) packaged as a zip: built by
``make extension`` and served to the dashboard at ``/downloads/browser-extension.zip``
(the same bytes, built from the same files)."""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

from django.http import HttpResponse
from django.views.decorators.http import require_GET

SOURCE = Path(__file__).resolve().parent / "browser_extension"
FILES = ("manifest.json", "background.js", "sidepanel.html", "sidepanel.css", "sidepanel.js")
# A fixed date for every entry, so one version always zips to the same bytes.
EPOCH = (2026, 1, 1, 0, 0, 0)


def build_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in FILES:
            info = zipfile.ZipInfo(name, date_time=EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, (SOURCE / name).read_bytes())
    return buffer.getvalue()


@require_GET
def extension_download(request):
    response = HttpResponse(build_zip(), content_type="application/zip")
    response["Content-Disposition"] = 'attachment; filename="browser-extension.zip"'
    return response


if __name__ == "__main__":  # make extension
    Path(sys.argv[1]).write_bytes(build_zip())

"""The browser extension's package: a valid Manifest V3 zip, served to the dashboard."""

import io
import json
import zipfile

import pytest

pytestmark = pytest.mark.django_db


def test_the_extension_zip_is_served_with_its_manifest(org_a, client_for):
    response = client_for(org_a, "member").get("/downloads/browser-extension.zip")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["manifest_version"] == 3
    assert manifest["side_panel"]["default_path"] in archive.namelist()
    assert "sidepanel.js" in archive.namelist() and "background.js" in archive.namelist()

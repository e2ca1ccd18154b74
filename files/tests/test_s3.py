"""S3 storage proven against a local S3-compatible server (moto's server mode, a separate
process speaking S3's wire protocol: the one stand-in). boto3 and django-storages are the
real ones: uploads, signed downloads, the per-organization prefix, deletes and retention."""

import datetime as dt
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from files import services
from files.models import File
from files.tests.samples import named
from tests.factories import upload_files

BUCKET = "platform-files"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(log) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")[-2000:]


@pytest.fixture(scope="module")
def s3_server():
    port = _free_port()
    # Its log goes to a file: a pipe nobody reads would fill up with request lines.
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        # Its imports take seconds, many more on a loaded machine (10 s was not enough
        # beside other test runs): wait up to a minute, and say why if it exits.
        deadline = time.monotonic() + 60
        try:
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        break
                except OSError:
                    if server.poll() is not None:
                        raise RuntimeError(f"moto_server exited: {_tail(log)}") from None
                    if time.monotonic() > deadline:
                        raise RuntimeError("moto_server did not start within 60 s") from None
                    time.sleep(0.1)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.terminate()
            server.wait(timeout=10)


@pytest.fixture
def s3(s3_server, settings):
    """The platform's default storage on the local S3 server, in a fresh bucket."""
    credentials = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1", **credentials)
    client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "region_name": "us-east-1",
                "endpoint_url": s3_server,
                "access_key": "test",
                "secret_key": "test",
                "default_acl": None,
                "querystring_auth": True,
                "file_overwrite": False,
                "signature_version": "s3v4",
            },
        },
    }
    yield client
    objects = client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    for item in objects:
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def _keys(client) -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", []))


@pytest.mark.django_db
def test_uploads_land_under_the_organizations_prefix(s3, org_a, org_b, client_for):
    response = client_for(org_a, "member").post(
        "/api/v1/files", {"files": [named("report.txt", b"alpha's report")]}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    [file_b] = upload_files(org_b, [("plan.txt", b"beta's plan")])
    file_a = response.json()["results"][0]
    assert _keys(s3) == [
        f"{org_a.slug}/files/{file_a['id']}/report.txt",
        f"{org_b.slug}/files/{file_b.id}/plan.txt",
    ]
    body = s3.get_object(Bucket=BUCKET, Key=_keys(s3)[0])["Body"].read()
    assert body == b"alpha's report"


@pytest.mark.django_db
def test_download_is_a_short_lived_signed_url_that_serves_the_bytes(
    s3, s3_server, org_a, client_for, settings
):
    settings.FILES_DOWNLOAD_URL_SECONDS = 120
    [file] = upload_files(org_a, [("data.csv", b"a,b\n1,2\n")], user=org_a.user("member"))
    response = client_for(org_a, "member").get(f"/api/v1/files/{file.id}/download")
    assert response.status_code == 302
    url = response["Location"]
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=120" in url
    assert url.startswith(f"{s3_server}/{BUCKET}/{org_a.slug}/files/{file.id}/")
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - the local server
        assert answer.read() == b"a,b\n1,2\n"


@pytest.mark.django_db
def test_files_read_from_s3_are_extracted(s3, org_a):
    [file] = upload_files(org_a, [("sales.csv", b"region,amount\nNorth,2\nSouth,3\n")])
    assert file.status == "processed"
    assert file.data_summary["columns"][1]["sum"] == "5"


@pytest.mark.django_db
def test_delete_removes_the_object_after_commit(
    s3, org_a, client_for, django_capture_on_commit_callbacks
):
    [file] = upload_files(org_a, [("gone.txt", b"bye")], user=org_a.user("member"))
    key = f"{org_a.slug}/files/{file.id}/gone.txt"
    assert _keys(s3) == [key]
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(org_a, "member").delete(f"/api/v1/files/{file.id}")
    assert response.status_code == 204
    assert _keys(s3) == []


@pytest.mark.django_db
def test_a_rolled_back_delete_keeps_the_object(s3, org_a, django_capture_on_commit_callbacks):
    [file] = upload_files(org_a, [("kept.txt", b"kept")])
    with schema_context(org_a.slug), django_capture_on_commit_callbacks(execute=False) as pending:
        services.file_delete(file=File.objects.get(pk=file.pk))
    # The transaction never committed (the callbacks were not run): the bytes stay.
    assert len(pending) == 1
    assert len(_keys(s3)) == 1


@pytest.mark.django_db
def test_retention_deletes_expired_attachments_from_the_bucket(
    s3, org_a, django_capture_on_commit_callbacks
):
    old, new = upload_files(org_a, [("old.txt", b"old"), ("new.txt", b"new")])
    with schema_context(org_a.slug):
        services.file_settings_update(attachment_retention_days=7, actor=None)
        File.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=8))
        with django_capture_on_commit_callbacks(execute=True):
            assert services.attachments_expire() == 1
    assert _keys(s3) == [f"{org_a.slug}/files/{new.id}/new.txt"]

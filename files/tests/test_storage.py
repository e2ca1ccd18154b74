"""Where uploaded bytes go: local disk by default, S3 when a bucket is configured."""

import os
import subprocess
import sys

from django.conf import settings


def _storage_class(extra_env: dict) -> str:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", **extra_env}
    env.setdefault("DATABASE_URL", settings.DATABASE_URL)
    env.setdefault("REDIS_URL", settings.REDIS_URL)
    code = (
        "import django; django.setup(); from django.core.files.storage import storages;"
        "s = storages['default']; print(type(s).__module__ + '.' + type(s).__name__);"
        "print(getattr(s, 'bucket_name', ''))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_local_disk_by_default():
    assert "FileSystemStorage" in _storage_class({"AWS_STORAGE_BUCKET_NAME": ""})


def test_s3_when_a_bucket_is_configured():
    # No S3 endpoint is reachable here: this checks the wiring, not an upload.
    output = _storage_class(
        {"AWS_STORAGE_BUCKET_NAME": "acme-uploads", "AWS_S3_REGION_NAME": "eu-west-1"}
    )
    assert "storages.backends.s3.S3Storage" in output and "acme-uploads" in output

"""The image's build and start commands work outside a container (infra/runtime_check.py).

No Docker engine runs here, so the check does what the Dockerfile does in a clean
directory with a fresh virtualenv, then starts web and worker with the production
settings against the suite's PostgreSQL and Redis and uses the platform through its
API: health checks, an upload ingested by the worker, a chat answer with its source,
a graceful stop. docs/deploy.md says what this proves and what it does not.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from config import localservices

ROOT = Path(__file__).resolve().parent.parent
# A Redis database no other worker of the suite consumes from.
RUNTIME_REDIS_DB = 12


@pytest.mark.deploy
def test_the_image_commands_build_and_serve_the_platform_outside_a_container():
    database = settings.DATABASES["default"]
    redis_url = os.environ.get("REDIS_URL") or localservices.redis_url()
    environment = {
        **os.environ,
        "DATABASE_URL": os.environ.get("DATABASE_URL") or localservices.postgres_url(),
        "REDIS_URL": f"{redis_url.rsplit('/', 1)[0]}/{RUNTIME_REDIS_DB}",
    }
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    dist = ROOT / "frontend" / "dist"
    if (dist / "index.html").exists():
        # `make test` built it with the same commands the Dockerfile's first stage runs.
        environment["RUNTIME_CHECK_FRONTEND_DIST"] = str(dist)
    assert database["ENGINE"]  # the suite's database settings are loaded

    result = subprocess.run(
        [sys.executable, str(ROOT / "infra" / "runtime_check.py")],
        env=environment,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )

    report = result.stdout[-6000:] + result.stderr[-3000:]
    assert result.returncode == 0, report
    for proven in (
        "python stage: fresh virtualenv, runtime dependencies only",
        "web (Dockerfile CMD) and worker started; /readyz 200",
        "HEALTHCHECK command passes",
        "ingested by the worker",
        "chat answered with the uploaded document as a source",
        "web stopped on SIGTERM (exit 0)",
    ):
        assert proven in result.stdout, report

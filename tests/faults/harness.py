"""A platform of its own that the fault tests may break: PostgreSQL, Redis, uvicorn, a
Celery worker and beat, each a real process this harness starts, stops and kills.

The servers are not the suite's shared ones: PostgreSQL and Redis run on free ports
with their data in a temporary directory (config.localservices' classes, as ``make
dev`` runs them), so stopping them disturbs nobody. The platform runs with
``config.settings.browser`` (the development settings, committed data) and short
recovery timings (leases of seconds, sweeps every two seconds), so every recovery
happens within the test's bounds. Reads go straight to the database (SQL); writes
through the HTTP API, as a program with an API key would.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from config.localservices import PostgresServer, RedisServer

ROOT = Path(__file__).resolve().parent.parent.parent
PYTHON = sys.executable
SLUG = "faults"
# Short timings: a lease nobody renews expires in 20 s (longer than a killed pool
# process takes to be replaced and its task redelivered) and beat sweeps every two.
RECOVERY_ENV = {
    "DOCUMENT_LEASE_SECONDS": "20",
    "DOCUMENT_SWEEP_INTERVAL": "2",
    "CHAT_SWEEP_INTERVAL": "2",
    "CHAT_STREAM_HEARTBEAT_SECONDS": "1",
    "CHAT_STREAM_ORPHAN_AFTER_SECONDS": "15",
    "KNOWLEDGE_EMBED_BATCH_SIZE": "8",
    "WORKFLOW_STEP_LEASE_SECONDS": "10",
    "WORKFLOW_SWEEP_INTERVAL": "2",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], object], what: str, timeout: float = 120.0):
    """Poll until ``predicate`` is truthy (its value is returned); fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception as exc:  # the platform is recovering: keep asking
            last_error = exc
            value = None
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what} (last error: {last_error!r})")


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                found.append(int(entry.name))
    return found


@dataclass
class FaultBed:
    workdir: Path
    pg: PostgresServer = field(init=False)
    redis: RedisServer = field(init=False)
    port: int = field(default_factory=free_port)
    processes: dict = field(default_factory=dict)
    ids: dict = field(default_factory=dict)

    def __post_init__(self):
        self.pg = PostgresServer(self.workdir / "data", free_port(), database="faults")
        self.redis = RedisServer(self.workdir / "data", free_port())
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)

    # -- environment ---------------------------------------------------------------

    @property
    def env(self) -> dict:
        redis_url = self.redis.url()
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("TEST_CELERY", "PYTEST_", "DJANGO_"))
        }
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings.browser",
            DATABASE_URL=self.pg.url(),
            REDIS_URL=redis_url,
            CELERY_BROKER_URL=redis_url,
            CELERY_RESULT_BACKEND=redis_url,
            BASE_DOMAIN="localhost",
            SITE_SCHEME="http",
            SITE_PORT=str(self.port),
            ALLOWED_HOSTS="localhost,.localhost",
            EMAIL_FILE_PATH=str(self.workdir / "mail"),
            LOCAL_EMBEDDER_THREADS="1",
            PYTHONUNBUFFERED="1",
            AI_MAX_RETRIES="0",
            **RECOVERY_ENV,
        )
        return env

    # -- servers -------------------------------------------------------------------

    def start_services(self) -> None:
        self.pg.ensure()
        self.redis.ensure()

    def stop_services(self) -> None:
        self.redis.stop()
        self.pg.stop(mode="immediate")

    def manage(self, *args: str, timeout: float = 600) -> str:
        result = subprocess.run(
            [PYTHON, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"manage.py {' '.join(args[:1])} failed ({result.returncode}):\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result.stdout

    COMMANDS = {
        "web": [
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--no-access-log",
            "--timeout-graceful-shutdown",
            "2",
        ],
        "worker": [
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-l",
            "info",
            "--concurrency",
            "1",
            "--without-gossip",
            "--without-mingle",
        ],
        "beat": ["-m", "celery", "-A", "config", "beat", "-l", "info"],
    }

    def command(self, name: str) -> list[str]:
        extra = {
            "web": ["--port", str(self.port)],
            "beat": ["--schedule", str(self.workdir / "beat-schedule")],
        }.get(name, [])
        return [PYTHON, *self.COMMANDS[name], *extra]

    def start(self, name: str) -> subprocess.Popen:
        log = open(self.workdir / "logs" / f"{name}.log", "a")  # noqa: SIM115 - closed in stop
        log.write(f"\n--- started {time.strftime('%H:%M:%S')}\n")
        log.flush()
        process = subprocess.Popen(
            self.command(name),
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = (process, log)
        return process

    def pid(self, name: str) -> int:
        return self.processes[name][0].pid

    def alive(self, name: str) -> bool:
        return name in self.processes and self.processes[name][0].poll() is None

    def stop(self, name: str, signum: int = signal.SIGTERM, timeout: float = 30) -> int:
        process, log = self.processes.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            code = process.wait(timeout=10)
        log.close()
        return code

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)

    def log(self, name: str) -> str:
        path = self.workdir / "logs" / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def wait_worker_ready(self, since: int = 0) -> None:
        wait_for(lambda: self.log_full("worker")[since:].count("ready.") > 0, "the worker ready")

    def log_full(self, name: str) -> str:
        path = self.workdir / "logs" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_web_ready(self) -> None:
        wait_for(
            lambda: self.request("GET", "/readyz", host="localhost")[0] == 200,
            "uvicorn to answer /readyz",
        )

    # -- talking to it --------------------------------------------------------------

    @property
    def host(self) -> str:
        return f"{SLUG}.localhost"

    def request(
        self, method: str, path: str, body=None, host: str | None = None, timeout: float = 60
    ) -> tuple[int, dict | str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            headers = {"Host": f"{host or self.host}:{self.port}"}
            if self.ids.get("api_key"):
                headers["Authorization"] = f"Bearer {self.ids['api_key']}"
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read().decode(errors="replace")
            try:
                return response.status, json.loads(raw)
            except ValueError:
                return response.status, raw
        finally:
            conn.close()

    def open_stream(self, body: dict) -> http.client.HTTPResponse:
        """POST a streamed chat request; returns the response to read events from."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        conn.request(
            "POST",
            "/api/v1/chat",
            body=json.dumps(body).encode(),
            headers={
                "Host": f"{self.host}:{self.port}",
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self.ids['api_key']}",
            },
        )
        return conn.getresponse()

    def sql(self, query: str, params=()) -> list[tuple]:
        with psycopg.connect(self.pg.url(), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'SET search_path TO "{SLUG}", public')
            return conn.execute(query, params).fetchall()


def read_events(response, until: Callable[[list], bool] | None = None) -> list[tuple[str, dict]]:
    """SSE events from a streamed response, until ``until(events)`` or the end."""
    events = []
    name = None
    while True:
        try:
            line = response.readline()
        except (OSError, http.client.HTTPException):
            break
        if not line:
            break
        line = line.decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: ") and name:
            events.append((name, json.loads(line[6:])))
            name = None
            if until is not None and until(events):
                break
    return events

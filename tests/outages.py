"""Real services to take down in tests: a throwaway Redis, a second PostgreSQL cluster
(a copy of the suite's, made with pg_basebackup), and the platform under uvicorn.

Each runs on a free loopback port of its own and is stopped and started again for
real (no mock): what the platform sees is exactly what it sees in an outage.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from config import localservices

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


class ThrowawayRedis:
    """A redis-server of its own, no persistence, stopped and started on one port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.directory = tempfile.mkdtemp(prefix="outage-redis-")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> ThrowawayRedis:
        self.process = subprocess.Popen(
            [
                localservices.redis_binary(),
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.directory,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait(lambda: _port_open(self.port), f"redis on {self.port}")
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None
        _wait(lambda: not _port_open(self.port), f"redis on {self.port} to stop")

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


class PostgresCopy:
    """A second PostgreSQL cluster: a pg_basebackup of the suite's (so it has the test
    database, migrated, with everything committed so far), on a port of its own."""

    def __init__(self) -> None:
        self.port = free_port()
        self.pgdata = localservices.DATA_DIR / f"outage-postgres-{os.getpid()}"
        self.run_as = localservices._pg_run_as()

    def create(self) -> PostgresCopy:
        shutil.rmtree(self.pgdata, ignore_errors=True)
        self.pgdata.mkdir(parents=True)
        localservices._pg_prepare_permissions(self.pgdata)
        self.pgdata.chmod(0o700)
        subprocess.run(
            [
                localservices._pg_bin("pg_basebackup"),
                "-D",
                str(self.pgdata),
                "-h",
                "127.0.0.1",
                "-p",
                str(localservices.PG_PORT),
                "-U",
                "postgres",
                "-X",
                "stream",
                "-c",
                "fast",
            ],
            check=True,
            capture_output=True,
            **self.run_as,
        )
        return self

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.pgdata} -c shared_buffers=32MB"
        subprocess.run(
            [
                localservices._pg_bin("pg_ctl"),
                "-D",
                str(self.pgdata),
                "-o",
                options,
                "-l",
                str(self.pgdata / "server.log"),
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=True,
            capture_output=True,
            start_new_session=True,
            **self.run_as,
        )

    def stop(self) -> None:
        subprocess.run(
            [localservices._pg_bin("pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"],
            check=False,
            capture_output=True,
            **self.run_as,
        )
        _wait(lambda: not _port_open(self.port), f"postgres on {self.port} to stop")

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.pgdata, ignore_errors=True)


class Platform:
    """The platform under uvicorn, in a process of its own, with the given environment."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.env = {**os.environ, **env}
        # Closed in stop(); a context manager cannot span start() and stop().
        self.log = tempfile.NamedTemporaryFile(prefix="outage-uvicorn-", suffix=".log")  # noqa: SIM115
        self.process: subprocess.Popen | None = None

    def start(self) -> Platform:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "config.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait(self._healthy, "uvicorn", timeout=120)
        except RuntimeError:
            self.stop()
            raise RuntimeError(Path(self.log.name).read_text(errors="replace")[-3000:]) from None
        return self

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(Path(self.log.name).read_text(errors="replace")[-3000:])
        with contextlib.suppress(OSError):
            return self.request("GET", "/healthz")[0] == 200
        return False

    def request(self, method: str, path: str, *, host: str = "localhost", body=None):
        """(status, headers by lowercase name, parsed JSON or the text) of one request."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            headers = {"Host": host}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            raw = response.read().decode(errors="replace")
            content_type = response.getheader("Content-Type", "")
            parsed = json.loads(raw) if content_type.startswith("application/json") else raw
            headers = {name.lower(): value for name, value in response.getheaders()}
            return response.status, headers, parsed
        finally:
            connection.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")[-3000:]

    def close(self) -> None:
        self.stop()
        self.log.close()

"""`make dev`: the whole platform on one machine, with nothing installed but Python.

Starts (or reuses) this checkout's PostgreSQL and Redis, migrates every schema,
creates the demo organization, then runs uvicorn, a Celery worker and Celery beat
and supervises them: a child that exits is started again after a growing pause
(1 s, 2 s, 4 s ... 30 s; back to 1 s once it has run for a minute), with a line
saying so, instead of taking the others down. Ctrl-C (or SIGTERM) stops all
three. Data stays in .data/ for the next run.
"""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HOST = os.environ.get("DEV_HOST", "127.0.0.1")
PORT = os.environ.get("DEV_PORT", "8000")
# The links the platform hands out use the port it is served on (config/settings/dev.py
# reads DEV_PORT too); SITE_PORT still wins, for a proxy in front.
os.environ.setdefault("SITE_PORT", PORT)
# Seconds uvicorn gives open streams on Ctrl-C before it cancels them; a cancelled
# answer is stored `cancelled` with its text so far (chat/streaming.py).
GRACEFUL_SECONDS = os.environ.get("DEV_GRACEFUL_SHUTDOWN", "5")
BACKOFF_FIRST, BACKOFF_MAX, HEALTHY_AFTER = 1.0, 30.0, 60.0


def check_frontend() -> None:
    """`make dev` builds the dashboard first (`make frontend`); started any other way,
    say so when it is missing rather than serve 503 pages unexplained."""
    if not (ROOT / "frontend" / "dist" / "index.html").exists():
        print(
            "The dashboard (frontend/) is not built: run `make frontend` (Node.js 20+). "
            "Its pages answer 503 until then; the API works.",
            flush=True,
        )


def manage(*args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, check=True)


def log(message: str) -> None:
    print(f"[dev {time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Child:
    """One supervised process: restarted with backoff when it exits on its own."""

    name: str
    command: list[str]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    backoff: float = BACKOFF_FIRST
    restart_at: float | None = None
    restarts: int = field(default=0)

    def start(self) -> None:
        # A session of its own: Ctrl-C in the terminal reaches the runner only, which
        # then stops each child in order (no child sees the signal twice).
        self.process = subprocess.Popen(self.command, cwd=ROOT, start_new_session=True)
        self.started_at = time.monotonic()
        self.restart_at = None

    def check(self, now: float) -> None:
        """Notice an exit and schedule the restart; start it when the pause is over."""
        if self.restart_at is not None:
            if now >= self.restart_at:
                self.restarts += 1
                log(f"{self.name}: starting again (restart {self.restarts})")
                self.start()
            return
        if self.process is None or self.process.poll() is None:
            return
        if now - self.started_at >= HEALTHY_AFTER:
            self.backoff = BACKOFF_FIRST  # it ran fine for a while: a fresh failure
        log(
            f"{self.name} exited with {self.process.returncode}; restarting in {self.backoff:.0f} s"
        )
        self.restart_at = now + self.backoff
        self.backoff = min(self.backoff * 2, BACKOFF_MAX)

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)

    def wait(self, deadline: float) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log(f"{self.name} did not stop in time; killing it")
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def children(data: Path) -> list[Child]:
    return [
        Child(
            "web",
            [
                PYTHON,
                "-m",
                "uvicorn",
                "config.asgi:application",
                "--host",
                HOST,
                "--port",
                PORT,
                "--proxy-headers",
                "--timeout-graceful-shutdown",
                GRACEFUL_SECONDS,
            ],
        ),
        Child(
            "worker",
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-l",
                "info",
                "--concurrency",
                os.environ.get("CELERY_CONCURRENCY", "2"),
            ],
        ),
        Child(
            "beat",
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "-l",
                "info",
                "--schedule",
                str(data / "celerybeat-schedule"),
            ],
        ),
    ]


def supervise(processes: list[Child]) -> None:
    """Keep the children running until Ctrl-C / SIGTERM."""
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while not stopping:
        now = time.monotonic()
        for child in processes:
            child.check(now)
        time.sleep(0.5)


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    sys.path.insert(0, str(ROOT))
    from config import localservices

    for line in localservices.ensure_services():
        print(line)
    manage("migrate_schemas", "--executor=standard", "-v", "0")
    manage("sync_ai_models")
    manage("create_demo")
    check_frontend()

    data = ROOT / ".data"
    data.mkdir(exist_ok=True)
    processes = children(data)
    for child in processes:
        child.start()
    print(
        f"\nPlatform running: http://localhost:{PORT}/ (public) and "
        f"http://acme.localhost:{PORT}/ (demo). Ctrl-C stops.\n",
        flush=True,
    )
    supervise(processes)

    log("stopping web, worker and beat")
    for child in processes:
        child.terminate()
    deadline = time.monotonic() + float(GRACEFUL_SECONDS) + 15
    for child in processes:
        child.wait(deadline)
    print(
        "Stopped. PostgreSQL and Redis keep running in the background; "
        "`make services-stop` stops them."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make dev`: the whole platform on one machine, with nothing installed but Python.

Starts (or reuses) PostgreSQL and Redis, migrates every schema, creates the
demo organization, then runs uvicorn, a Celery worker and Celery beat until
Ctrl-C, which stops all three. Data stays in .data/ for the next run.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HOST = os.environ.get("DEV_HOST", "127.0.0.1")
PORT = os.environ.get("DEV_PORT", "8000")


def check_frontend() -> None:
    """`make dev` builds the dashboard first (`make frontend`); started any other way,
    say so when it is missing rather than serve 503 pages unexplained."""
    if not (ROOT / "frontend" / "dist" / "index.html").exists():
        print("The dashboard (frontend/) is not built: run `make frontend` (Node.js 20+). "
              "Its pages answer 503 until then; the API works.", flush=True)  # fmt: skip


def manage(*args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, check=True)


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    sys.path.insert(0, str(ROOT))
    from config import localservices

    if not os.environ.get("DATABASE_URL"):
        print(f"PostgreSQL (embedded): {localservices.ensure_postgres()}")
    if not os.environ.get("REDIS_URL"):
        print(f"Redis (embedded):      {localservices.ensure_redis()}")
    manage("migrate_schemas", "--executor=standard", "-v", "0")
    manage("sync_ai_models")
    manage("create_demo")
    check_frontend()

    data = ROOT / ".data"
    data.mkdir(exist_ok=True)
    commands = {
        "web": [PYTHON, "-m", "uvicorn", "config.asgi:application", "--host", HOST,
                "--port", PORT, "--proxy-headers"],
        "worker": [PYTHON, "-m", "celery", "-A", "config", "worker", "-l", "info",
                   "--concurrency", os.environ.get("CELERY_CONCURRENCY", "2")],
        "beat": [PYTHON, "-m", "celery", "-A", "config", "beat", "-l", "info",
                 "--schedule", str(data / "celerybeat-schedule")],
    }  # fmt: skip
    processes = {
        name: subprocess.Popen(cmd, cwd=ROOT, start_new_session=True)
        for name, cmd in commands.items()
    }
    print(f"\nPlatform running: http://localhost:{PORT}/ (public) and "
          f"http://acme.localhost:{PORT}/ (demo). Ctrl-C stops.\n", flush=True)  # fmt: skip

    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for name, process in processes.items():
            if process.poll() is not None:
                print(f"{name} exited with {process.returncode}; stopping the others.")
                exit_code = process.returncode or 1
                stopping = True
        time.sleep(0.5)

    for process in processes.values():
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for process in processes.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    print("Stopped. PostgreSQL and Redis keep running in the background; "
          "`make services-stop` stops them.")  # fmt: skip
    return exit_code


if __name__ == "__main__":
    sys.exit(main())

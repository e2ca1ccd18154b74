"""Chat endpoint: platform overhead on time to first token, and concurrent SSE streams.

Run from the repository root: ``python bench/chat.py`` (~8-9 min on 2 cores; the first run
also builds the collection, <1 min when bench/search.py or bench/scifact.py data exists)
or ``python bench/chat.py --quick`` (~4 min).

What is measured: ``POST /api/v1/chat`` (Server-Sent Events) served by a real uvicorn
process started here (``python -m uvicorn config.asgi:application --workers 1``, dev
settings with DEBUG off as in production, AI_MAX_RETRIES=0, the same DATABASE_URL and
REDIS_URL as this process), in organization "benchchat" (host benchchat.localhost), by
users who log in through the real login page (GET for the csrftoken, POST login/password)
and send ``X-CSRFToken`` on every POST. The organization's OpenAI credential points at
assistants/tests/providers/fake_server.py, run in its own process (so it never shares a
GIL with the client) with its listen backlog raised from socketserver's 5 to 4096.

Data: collection "chat-10k" (~10k chunks, local all-MiniLM-L6-v2, 384 dims, made with
``collection_create`` so the HNSW index exists, then ANALYZEd), copied in SQL from
bench/search.py's "benchsearch/search-10k" when present, else from bench/scifact.py's
"benchscifact/scifact" (6,340 real chunks) topped up to 10k with copies whose vectors get
uniform noise (+-0.04 per dimension, sd ~0.023, like search.py's 0.025), else SciFact
embedded here through the ingestion pipeline (slow) and topped up the same way.
Two assistants on openai/gpt-4o-mini: one linked to the collection (hybrid retrieval,
top 6), one linked to none.

1. Time to first token, sequential: per round, in rotating order, (a) the provider alone,
   the fake server's first content chunk through the ``openai`` SDK (one client, reused),
   (b) the platform with the no-collection assistant, (c) the platform with the 10k
   collection. Platform TTFT = POST sent -> first ``event: delta`` at the client (httpx,
   streamed). Overhead = platform - provider, paired per round. The ``usage`` event's
   server-side TTFT (from the start of chat_prepare) splits request handling (middleware,
   session auth, DRF) from the turn itself; an in-process breakdown times the turn's parts
   (credential + SDK client, query embedding, hybrid search, chat_prepare).
2. Concurrent streams: N streams opened by one async httpx client against the one worker
   (ramped: at most OPEN_RATE/s and MAX_PENDING requests awaiting their ``session`` event,
   which bounds the database connections the preparing requests hold). The fake provider
   emits a delta every DELTA_EVERY_S and holds each stream open until the bench releases
   the step (streams then end spread over a few seconds, as real answers do), so all N can
   be open at once however long the ramp takes. Per step: streams that opened, got a delta,
   ended with ``done``; errors; TTFT; the peak of streams receiving deltas at once; the
   fake server's peak of concurrent provider streams; uvicorn's RSS, threads and PostgreSQL
   connections (psutil) before and at the peak; while all are held, uvicorn's CPU per
   delta. A step passes when all N stream at once and all end with ``done``; the ladder
   stops at the first step that does not (a step gives up waiting when no stream changed
   state for STALL_S). Memory per stream = (peak RSS - RSS before the step) / streams open
   at once. The streams carry no collection by default (the opening rate, not the
   holding, would pay for retrieval; ``--load-with-retrieval`` changes that). The
   provider streams are awaited on uvicorn's event loop (the SDKs' async clients, see
   docs/adr/0007-async-provider-streaming.md); the thread count is sampled to show what
   a held stream still costs (Django's per-request thread, idle while it streams).
3. Cold burst: before part 1, COLD_BURST streams sent at once to the fresh worker (time to
   the ``session`` event, RSS, database connections held).

Results: bench/results/chat-<UTC stamp>.json and chat-latest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import logging
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/common.py

import common
import httpx2

from assistants.tests.providers.fake_server import (
    FakeProviderServer,
    OpenAIProtocol,
    Reply,
    _Handler,
)

ORG_SLUG, ORG_NAME = "benchchat", "Benchmark: chat"
HOST = f"{ORG_SLUG}.localhost"
PASSWORD = "Bench-chat-2026-not-secret"
USERS = 10  # DRF's user throttle allows 600 requests/min per user: spread the streams
COLLECTION = "chat-10k"
TARGET_CHUNKS, MIN_CHUNKS = 10_000, 9_900
DESCRIPTION = f"bench/chat.py: {TARGET_CHUNKS} chunks"
SOURCES = (("benchsearch", "search-10k"), ("benchscifact", "scifact"))
EMBED_CHUNKS = 2_500  # fallback only: real chunks embedded here before the top-up
RESUME_CHUNKS = 500  # an interrupted fallback build with this many is topped up, not redone
NOISE = 0.08  # width of the uniform noise on top-up copies
CHAT_MODEL = ("openai", "gpt-4o-mini")
KB_ASSISTANT, PLAIN_ASSISTANT = "Bench chat (10k chunks)", "Bench chat (no collection)"
FAKE_KEY = "sk-bench-chat-0000000000"
PYTHON = str(common.ROOT / ".venv" / "bin" / "python")

SEQUENTIAL, QUICK_SEQUENTIAL, WARMUP = 100, 30, 5
BREAKDOWN, QUICK_BREAKDOWN = 30, 10
STEPS, QUICK_STEPS = (250, 1000, 5000), (100, 250)
TARGET_STREAMS = 5000  # issue 21 item 11
# Issue 21 named the p50 (<= 30 ms); the p95 figure is an assumption, see --help.
TARGET_OVERHEAD_P50_MS, TARGET_OVERHEAD_P95_MS = 30.0, 300.0

DELTA_EVERY_S = 0.5  # the fake provider's pace while a stream is held (at most)
MAX_DELTAS_PER_S = 2000  # over all held streams: bigger steps get a slower pace each
STREAM_CAP_S = 180  # a held stream ends by itself after this (bigger steps: longer)
OPEN_RATE = 100  # streams opened per second at most
MAX_PENDING = 32  # requests sent but not yet streaming their session event
OPEN_DEADLINE_S = 150  # bigger steps: N / OPEN_RATE_FLOOR s
OPEN_RATE_FLOOR = 10.0  # streams/s a step must open at on average (--open-rate-floor)
STALL_S = 60  # no stream changed state for this long: the server is stuck (busy machines pause)
SETTLE_CAP_S = 120  # all sent: wait at most this for every stream's first delta
COLD_BURST = 32  # streams sent at once to a fresh worker
HOLD_S = 5  # all open: hold (and sample) before the release
DRAIN_GRACE_S = 60
SAMPLE_EVERY_S = 1.0
PG_EVERY = 10  # samples between two counts of the worker's PostgreSQL connections


# -- the fake provider, with held streams (runs in its own process) --------------------------

_HOLD = re.compile(r"\[\[bench hold=([\w.-]+) every=([\d.]+) cap=([\d.]+)\]\]")


def step_pace(n: int) -> tuple[float, float, float]:
    """(seconds between deltas, opening deadline, stream cap) for a step of ``n`` streams.

    Holding costs CPU per delta (~0.2 ms on the loop), so the pace per stream slows as
    steps grow, keeping all held streams at MAX_DELTAS_PER_S together: the step measures
    how many streams a worker holds, not how many deltas per second it writes."""
    every = max(DELTA_EVERY_S, n / MAX_DELTAS_PER_S)
    deadline = max(OPEN_DEADLINE_S, n / OPEN_RATE_FLOOR)
    return every, deadline, max(STREAM_CAP_S, deadline + SETTLE_CAP_S + 90)


def hold_marker(step: str, n: int) -> str:
    """Appended to a question: the fake server holds that stream until ``step`` is released."""
    every, _, cap = step_pace(n)
    return f"[[bench hold={step} every={every} cap={cap}]]"


class HeldStreamServer(FakeProviderServer):
    """The test suite's fake provider plus held streams and a small control API.

    GET /bench/stats, /bench/reset (peak := active), /bench/release?step=&spread=.
    """

    def __init__(self, api_key: str) -> None:
        super().__init__(api_key=api_key)
        self._releases: dict[str, tuple[float, float]] = {}
        self._active = self._peak = self._served = 0
        self._count_lock = threading.Lock()

    def _record(self, rec: Any) -> None:
        pass  # thousands of requests: keep no bodies

    def _handler_class(self) -> type[_Handler]:
        server = self

        class Handler(_Handler):
            fake = server

            def _dispatch(self, method: str, path: str, query: dict, headers: dict, body: dict):
                if path.startswith("/bench/"):
                    self._send_json(200, server.control(path, query))
                    return
                hold = _HOLD.search(json.dumps(body.get("messages", [])))
                if hold is None:
                    super()._dispatch(method, path, query, headers, body)
                    return
                step, every, cap = hold.group(1), float(hold.group(2)), float(hold.group(3))
                server.stream_held(self, body, step, every, cap)

        return Handler

    def control(self, path: str, query: dict) -> dict:
        with self._count_lock:
            if path == "/bench/release":
                self._releases[query["step"]] = (time.monotonic(), float(query["spread"]))
            stats = {"active": self._active, "peak": self._peak, "served": self._served}
            if path == "/bench/reset":
                self._peak = self._active
        return stats

    @contextlib.contextmanager
    def _counted(self) -> Iterator[None]:
        with self._count_lock:
            self._active += 1
            self._served += 1
            self._peak = max(self._peak, self._active)
        try:
            yield
        finally:
            with self._count_lock:
                self._active -= 1

    def stream_held(self, handler: _Handler, body: dict, step: str, every: float, cap: float):
        protocol = OpenAIProtocol()
        head, parts, _ = protocol.chat_stream(Reply(text="word "), body)
        with self._counted():
            handler.send_response(200)
            handler.send_header("Content-Type", "text/event-stream")
            handler.send_header("Transfer-Encoding", "chunked")
            handler.send_header("Connection", "close")
            handler.end_headers()
            handler.close_connection = True
            handler._write_chunk(head[0].encode())
            words = self._hold(handler, parts[0].encode(), step, every, cap)
            _, _, tail = protocol.chat_stream(Reply(text="word " * words, usage=(900, words)), body)
            for event in tail:
                handler._write_chunk(event.encode())
            handler.wfile.write(b"0\r\n\r\n")

    def _hold(self, handler: _Handler, chunk: bytes, step: str, every: float, cap: float) -> int:
        """One delta every ``every`` s until released (then within ``spread`` s) or ``cap``."""
        started, words, end_at = time.monotonic(), 0, None
        while True:
            handler._write_chunk(chunk)
            words += 1
            now = time.monotonic()
            if end_at is None and step in self._releases:
                released, spread = self._releases[step]
                end_at = released + random.uniform(0, spread)
            if now - started >= cap or (end_at is not None and now >= end_at):
                return words
            time.sleep(every if end_at is None else max(0.0, min(every, end_at - now)))


def serve_fake(api_key: str) -> None:
    """Child process: serve until the parent closes our stdin."""
    server = HeldStreamServer(api_key)
    server._httpd.socket.listen(4096)  # socketserver listens with a backlog of 5
    server.start()
    print(server.url, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        sys.stdin.read()
    server.stop()


# -- child processes ----------------------------------------------------------------------


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    log: Path

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.process.stdin:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


class Children:
    """Every process this run started, stopped at the end whatever happens."""

    def __init__(self) -> None:
        self.started: list[Child] = []
        self.logdir = Path(tempfile.mkdtemp(prefix="bench-chat-"))

    def add(self, child: Child) -> Child:
        self.started.append(child)
        return child

    def stop_all(self) -> None:
        for child in reversed(self.started):
            child.stop()


def start_fake(children: Children) -> tuple[Child, str]:
    log = children.logdir / "fake.log"
    process = subprocess.Popen(
        [PYTHON, str(Path(__file__).resolve()), "--serve-fake", FAKE_KEY],
        cwd=common.ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
    )
    child = children.add(Child("fake provider", process, log))
    url = process.stdout.readline().strip()
    if not url.startswith("http://"):
        raise RuntimeError(f"fake provider did not start:\n{child.log_tail()}")
    return child, url


def child_env() -> dict[str, str]:
    from django.conf import settings

    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.dev",
        DATABASE_URL=settings.DATABASE_URL,
        REDIS_URL=settings.REDIS_URL,
        AI_MAX_RETRIES="0",
        DEBUG=os.environ.get("DEBUG", "false"),
        PYTHONUNBUFFERED="1",
    )
    return env


def start_uvicorn(children: Children) -> tuple[Child, str]:
    port = common.free_port()
    command = common.uvicorn_command(PYTHON, port)
    name = "uvicorn"
    log = children.logdir / f"uvicorn-{port}.log"
    process = subprocess.Popen(
        command,
        cwd=common.ROOT,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    child = children.add(Child(name, process, log))
    base = f"http://127.0.0.1:{port}"
    wait_ready(child, base)
    return child, base


def wait_ready(child: Child, base: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"{child.name} exited:\n{child.log_tail()}")
        with contextlib.suppress(httpx2.HTTPError):
            if httpx2.get(f"{base}/readyz", timeout=2, trust_env=False).status_code == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"{child.name} not ready after {timeout}s:\n{child.log_tail()}")


def log_problems(child: Child) -> list[str]:
    """Distinct error lines uvicorn logged (tracebacks' last lines), most frequent first."""
    lines = child.log.read_text(errors="replace").splitlines() if child.log.exists() else []
    wanted = re.compile(r"(Error|Exception|error|FATAL|too many)")
    counted = Counter(line.strip()[:200] for line in lines if wanted.search(line))
    return [f"{count}x {line}" for line, count in counted.most_common(8)]


# -- the organization, users, credential, collection, assistants --------------------------


@dataclass
class Fixture:
    emails: list[str]
    assistant_kb: str
    assistant_plain: str
    collection_id: str
    chunks: int
    chunk_source: str
    build_s: float


def prepare_fixture(fake_url: str) -> Fixture:
    from django_tenants.utils import schema_context

    organization = common.benchmark_organization(ORG_SLUG, ORG_NAME)
    users = ensure_users(organization)
    with schema_context(ORG_SLUG):
        clear_chat_history()
        ensure_credential(fake_url, users[0])
        started = time.perf_counter()
        collection = ensure_collection()
        build_s = time.perf_counter() - started
        kb = ensure_assistant(KB_ASSISTANT, users[0], [collection])
        plain = ensure_assistant(PLAIN_ASSISTANT, users[0], [])
        chunks = chunk_total(collection.id)
    return Fixture(
        [u.email for u in users],
        str(kb.id),
        str(plain.id),
        str(collection.id),
        chunks,
        collection.description,
        round(build_s, 1),
    )


def ensure_users(organization: Any) -> list[Any]:
    """USERS verified users (the first an admin) who are members of the organization."""
    from allauth.account.models import EmailAddress

    from users.models import Membership, Role, User
    from users.services import user_create

    users = []
    for number in range(USERS):
        email = f"bench-chat-{number:02d}@example.com"
        user = User.objects.filter(email=email).first() or user_create(
            email=email, password=PASSWORD, name=f"Bench chat {number}", verified=True
        )
        EmailAddress.objects.filter(user=user).update(verified=True)
        role = Role.ADMIN if number == 0 else Role.MEMBER
        Membership.objects.get_or_create(
            user=user, organization=organization, defaults={"role": role}
        )
        users.append(user)
    return users


def clear_chat_history() -> None:
    """Sessions of earlier runs go, so every run inserts into tables of the same size."""
    from django.db import connection

    from chat.models import ChatSession, Message

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Message._meta.db_table}, {ChatSession._meta.db_table} CASCADE")


def ensure_credential(fake_url: str, user: Any) -> None:
    from assistants.models import ProviderCredential
    from assistants.services import credential_create, credential_update

    base_url = f"{fake_url}/v1"
    existing = ProviderCredential.objects.filter(provider="openai").first()
    if existing is None:
        credential_create(provider="openai", api_key=FAKE_KEY, base_url=base_url, user=user)
    else:
        credential_update(credential=existing, api_key=FAKE_KEY, base_url=base_url)


def ensure_assistant(name: str, user: Any, collections: list) -> Any:
    from assistants.catalog.models import AIModel
    from assistants.models import Assistant
    from assistants.services import assistant_create, assistant_update

    provider, model_id = CHAT_MODEL
    fields = {
        "model": AIModel.objects.get(provider=provider, model_id=model_id),
        "system_instructions": "Answer from the provided sources and cite them as [n].",
        "max_output_tokens": 512,
        "retrieval_mode": "hybrid",
        "retrieval_top_k": 6,
        "is_active": True,
    }
    existing = Assistant.objects.filter(name=name).first()
    if existing is not None:
        return assistant_update(assistant=existing, collections=collections, **fields)
    return assistant_create(user=user, name=name, collections=collections, **fields)


def ensure_collection() -> Any:
    """The ~10k-chunk collection, built once (reused while complete)."""
    from django.db import transaction

    from knowledge_base import services

    collection = common.collection_named(COLLECTION)
    built = collection is not None and collection.description.startswith(f"{DESCRIPTION};")
    if built and chunk_total(collection.id) >= MIN_CHUNKS:
        return collection
    if collection is not None and not built and chunk_total(collection.id) >= RESUME_CHUNKS:
        # A build cut short while embedding (slow on a loaded machine): its real chunks
        # are kept and topped up, rather than embedded again from the start.
        source = f"{chunk_total(collection.id)} SciFact chunks embedded here (resumed)"
        print(f"resuming collection {COLLECTION!r}: {source}", flush=True)
    else:
        purge_collection()
        print(f"building collection {COLLECTION!r} (~{TARGET_CHUNKS} chunks)", flush=True)
        collection = services.collection_create(
            name=COLLECTION,
            description=DESCRIPTION,
            embedding_model=common.local_embedding_model(),
        )
        source = fill_collection(collection)
    added = top_up(collection)
    if added:
        source += f" + {added} noisy copies"
    with transaction.atomic():
        services.collection_refresh_counts(collection_id=collection.id)
    analyze()
    collection.description = f"{DESCRIPTION}; {source}"
    collection.save(update_fields=["description"])
    print(f"  {chunk_total(collection.id)} chunks: {source}", flush=True)
    return collection


def chunk_total(collection_id: Any) -> int:
    from knowledge_base.models import DocumentChunk

    return DocumentChunk.objects.filter(collection_id=collection_id).count()


def purge_collection() -> None:
    """In SQL: the ORM's cascade would load 10k chunks first."""
    from django.db import connection, transaction

    from assistants.models import Assistant

    collection = common.collection_named(COLLECTION)
    if collection is None:
        return
    links = Assistant.collections.through._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        for table in (links, "knowledge_base_documentchunk", "knowledge_base_document"):
            cursor.execute(f"DELETE FROM {table} WHERE collection_id = %s", [collection.id])
        cursor.execute("DELETE FROM knowledge_base_collection WHERE id = %s", [collection.id])


def fill_collection(collection: Any) -> str:
    for schema, name in SOURCES:
        source_id = source_collection(schema, name)
        if source_id is not None:
            copied = copy_documents(schema, source_id, collection.id, TARGET_CHUNKS, noise=0.0)
            return f"{copied} chunks copied from {schema}/{name}"
    return f"{embed_scifact(collection)} SciFact chunks embedded here"


def source_collection(schema: str, name: str) -> Any:
    """The id of a complete 384-d collection ``name`` in ``schema``, or None."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", [schema])
        if cursor.fetchone() is None:
            return None
        cursor.execute(
            f"""SELECT c.id FROM {schema}.knowledge_base_collection c
                WHERE c.name = %s AND c.embedding_dimensions = 384 AND c.chunk_count > 0
                  AND c.chunk_count = (SELECT count(*) FROM {schema}.knowledge_base_documentchunk k
                                       WHERE k.collection_id = c.id)
                  AND NOT EXISTS (SELECT 1 FROM {schema}.knowledge_base_document d
                                  WHERE d.collection_id = c.id AND d.status <> 'completed')""",
            [name],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def insert_columns(table: str) -> list[str]:
    """The columns an INSERT may name (generated ones, e.g. search_vector, excluded)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT column_name FROM information_schema.columns
               WHERE table_schema = current_schema() AND table_name = %s
                 AND is_generated = 'NEVER' ORDER BY ordinal_position""",
            [table],
        )
        return [row[0] for row in cursor.fetchall()]


def _select_list(table: str, overrides: dict[str, str | None]) -> tuple[str, str]:
    """(column list, select list): each column from the source row ``s`` unless overridden;
    an override of None leaves the column out (identity ids)."""
    columns = [c for c in insert_columns(table) if overrides.get(c, "") is not None]
    values = [overrides.get(c) or f"s.{c}" for c in columns]
    return ", ".join(columns), ", ".join(values)


_MAP_SQL = """
CREATE TEMP TABLE bench_chat_map ON COMMIT DROP AS
SELECT old_id, gen_random_uuid() AS new_id FROM (
    SELECT d.id AS old_id, sum(count(*)) OVER (ORDER BY d.id) AS running
    FROM {schema}.knowledge_base_document d
    JOIN {schema}.knowledge_base_documentchunk c ON c.document_id = d.id
    WHERE d.collection_id = %(source)s AND d.status = 'completed'
      AND NOT d.metadata @> '{{"bench_copy": true}}'
    GROUP BY d.id
) counted WHERE running <= %(limit)s
"""
_NOISY_EMBEDDING = (
    "(SELECT array_agg(x + (random() - 0.5) * %(noise)s ORDER BY i)"
    " FROM unnest(s.embedding::real[]) WITH ORDINALITY AS t(x, i))::vector"
)


def copy_documents(schema: str, source_id: Any, target_id: Any, limit: int, *, noise: float) -> int:
    """Copy completed documents (whole, up to ``limit`` chunks) of a collection in ``schema``
    into ours, in SQL; with ``noise`` the vectors are perturbed and the copies marked."""
    from django.db import connection, transaction

    mark = '{"bench_copy": true}' if noise else "{}"
    doc_columns, doc_values = _select_list(
        "knowledge_base_document",
        {
            "id": "m.new_id",
            "collection_id": "%(target)s",
            "created_by_id": "NULL",
            "file_id": "NULL",
            "created_at": "now()",
            "updated_at": "now()",
            "metadata": "s.metadata || %(mark)s::jsonb",
        },
    )
    chunk_columns, chunk_values = _select_list(
        "knowledge_base_documentchunk",
        {
            "id": None,
            "parent_id": "NULL",
            "document_id": "m.new_id",
            "collection_id": "%(target)s",
            "embedding": _NOISY_EMBEDDING if noise else "s.embedding",
        },
    )
    params = {
        "source": source_id,
        "target": target_id,
        "limit": limit,
        "noise": noise,
        "mark": mark,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_MAP_SQL.format(schema=schema), params)
        cursor.execute(
            f"INSERT INTO knowledge_base_document ({doc_columns}) SELECT {doc_values} "
            f"FROM {schema}.knowledge_base_document s JOIN bench_chat_map m ON m.old_id = s.id",
            params,
        )
        cursor.execute(
            f"INSERT INTO knowledge_base_documentchunk ({chunk_columns}) SELECT {chunk_values} "
            f"FROM {schema}.knowledge_base_documentchunk s "
            "JOIN bench_chat_map m ON m.old_id = s.document_id",
            params,
        )
        return cursor.rowcount


def top_up(collection: Any) -> int:
    """Noisy copies of the collection's own documents until it holds ~TARGET_CHUNKS."""
    added = 0
    while (have := chunk_total(collection.id)) < MIN_CHUNKS:
        copied = copy_documents(
            ORG_SLUG, collection.id, collection.id, TARGET_CHUNKS - have, noise=NOISE
        )
        if not copied:
            break
        added += copied
    return added


def embed_scifact(collection: Any) -> int:
    """Fallback: SciFact abstracts through the real pipeline until EMBED_CHUNKS (~2 min)."""
    from core.tenancy import current_organization
    from knowledge_base import ingestion, services

    print(f"  no benchmark chunks to copy: embedding ~{EMBED_CHUNKS} SciFact chunks", flush=True)
    organization, total = current_organization(), 0
    with common.no_celery_enqueue():
        for doc in common.scifact_corpus():
            outcome = services.document_create_text(
                collection=collection, title=doc.title[:300], text=doc.document_text()
            )
            if outcome.document is None:
                continue
            result = ingestion.document_process(
                document_id=outcome.document.id,
                version=outcome.document.version,
                organization=organization,
            )
            total += result.chunks
            if total >= EMBED_CHUNKS:
                break
    return total


def analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE knowledge_base_document")
        cursor.execute("ANALYZE knowledge_base_documentchunk")


# -- HTTP: login and SSE --------------------------------------------------------------------


@dataclass(frozen=True)
class Login:
    email: str
    host: str
    sessionid: str
    csrftoken: str

    @property
    def headers(self) -> dict[str, str]:
        return {
            "Host": self.host,
            "Cookie": f"sessionid={self.sessionid}; csrftoken={self.csrftoken}",
            "X-CSRFToken": self.csrftoken,
            # Not text/event-stream: DRF's content negotiation answers that with 406.
            "Accept": "*/*",
        }


def login(base: str, email: str) -> Login:
    """Through the real login page on the organization's host."""
    host = f"{HOST}:{urlsplit(base).port}"
    with httpx2.Client(
        base_url=base, headers={"Host": host}, trust_env=False, timeout=60
    ) as client:
        page = client.get("/accounts/login/")
        page.raise_for_status()
        token = client.cookies["csrftoken"]
        response = client.post(
            "/accounts/login/",
            data={"login": email, "password": PASSWORD, "csrfmiddlewaretoken": token},
        )
        sessionid = client.cookies.get("sessionid")
        if response.status_code != 302 or not sessionid:
            raise RuntimeError(f"login of {email} failed: HTTP {response.status_code}")
        return Login(email, host, sessionid, client.cookies["csrftoken"])


class SSEReader:
    """Incremental Server-Sent Events parser: bytes in, (event, data) pairs out."""

    def __init__(self) -> None:
        self.buffer = b""

    def feed(self, data: bytes) -> list[tuple[str, str]]:
        self.buffer += data
        events = []
        while b"\n\n" in self.buffer:
            block, self.buffer = self.buffer.split(b"\n\n", 1)
            name, lines = "message", []
            for line in block.decode().splitlines():
                if line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    lines.append(line[5:].strip())
            events.append((name, "\n".join(lines)))
        return events


def questions(count: int, offset: int = 0) -> list[str]:
    """SciFact test questions (real retrieval queries), cycled when more are needed."""
    texts = common.scifact_queries()
    ids = list(common.scifact_qrels("test"))
    return [texts[ids[(offset + i) % len(ids)]] for i in range(count)]


# -- 1. time to first token, sequential ------------------------------------------------------


@dataclass
class PlatformTurn:
    ttft_s: float
    total_s: float
    server_ttft_ms: float | None


def platform_turn(
    client: httpx2.Client, user: Login, assistant: str, question: str
) -> PlatformTurn:
    """POST /api/v1/chat: seconds to the first delta event, to the end, and the server's TTFT."""
    started = time.perf_counter()
    first, usage, done = None, {}, False
    payload = {"assistant": assistant, "message": question}
    with client.stream("POST", "/api/v1/chat", json=payload, headers=user.headers) as response:
        if response.status_code != 200:
            raise RuntimeError(f"chat: HTTP {response.status_code} {response.read()[:300]!r}")
        reader = SSEReader()
        for data in response.iter_raw():
            for name, body in reader.feed(data):
                if name == "delta" and first is None:
                    first = time.perf_counter() - started
                elif name == "usage":
                    usage = json.loads(body)
                elif name == "done":
                    done = True
                elif name == "error":
                    raise RuntimeError(f"chat: error event {body}")
    if first is None or not done:
        raise RuntimeError("chat: the stream ended without a delta or done event")
    total = time.perf_counter() - started
    return PlatformTurn(first, total, usage.get("time_to_first_token_ms"))


def provider_turn(client: Any, question: str) -> float:
    """The fake provider alone through the openai SDK: seconds to the first content chunk."""
    started = time.perf_counter()
    first = None
    stream = client.chat.completions.create(
        model=CHAT_MODEL[1], messages=[{"role": "user", "content": question}], stream=True
    )
    with stream:
        for chunk in stream:
            if first is None and any(c.delta and c.delta.content for c in chunk.choices):
                first = time.perf_counter() - started
    if first is None:
        raise RuntimeError("provider: no content chunk")
    return first


def sequential_ttft(base: str, user: Login, fixture: Fixture, fake_url: str, rounds: int) -> dict:
    import openai

    provider = openai.OpenAI(api_key=FAKE_KEY, base_url=f"{fake_url}/v1", max_retries=0)
    samples: dict[str, list] = {"provider": [], "plain": [], "kb": []}
    with httpx2.Client(base_url=base, trust_env=False, timeout=60) as client:
        calls = {
            "provider": functools.partial(provider_turn, provider),
            "plain": functools.partial(platform_turn, client, user, fixture.assistant_plain),
            "kb": functools.partial(platform_turn, client, user, fixture.assistant_kb),
        }
        names = list(calls)
        for number, question in enumerate(questions(rounds + WARMUP)):
            shift = number % len(names)
            for name in names[shift:] + names[:shift]:  # rotate the order every round
                result = calls[name](question)
                if number >= WARMUP:
                    samples[name].append(result)
    provider.close()
    return summarise_ttft(samples)


def summarise_ttft(samples: dict[str, list]) -> dict:
    provider = samples["provider"]
    report: dict[str, Any] = {
        "rounds": len(provider),
        "provider_ttft": common.latency_summary(provider),
    }
    for name in ("plain", "kb"):
        turns: list[PlatformTurn] = samples[name]
        server = [t.server_ttft_ms / 1000 for t in turns if t.server_ttft_ms is not None]
        before = [t.ttft_s - t.server_ttft_ms / 1000 for t in turns if t.server_ttft_ms is not None]
        report[name] = {
            "platform_ttft": common.latency_summary([t.ttft_s for t in turns]),
            "overhead": common.latency_summary(
                [t.ttft_s - p for t, p in zip(turns, provider, strict=True)]
            ),
            "server_ttft_from_prepare": common.latency_summary(server),
            "request_handling_before_prepare": common.latency_summary(before),
            "total": common.latency_summary([t.total_s for t in turns]),
        }
    report["retrieval_cost_p50_ms"] = (
        report["kb"]["platform_ttft"]["p50_ms"] - report["plain"]["platform_ttft"]["p50_ms"]
    )
    return report


# -- in-process breakdown of a turn's preparation ----------------------------------------------


def in_process_breakdown(fixture: Fixture, reps: int) -> dict:
    """The parts of chat_prepare timed in this process (same database, same code)."""
    from django_tenants.utils import schema_context

    from chat.models import ChatSession

    texts = questions(reps + 3, offset=150)
    with schema_context(ORG_SLUG):
        sessions: list = []
        parts = breakdown_parts(fixture, texts, sessions)
        timings = {name: _time_each(fn, texts) for name, fn in parts.items()}
        ChatSession.objects.filter(pk__in=sessions).delete()
    return timings


def breakdown_parts(fixture: Fixture, texts: list[str], sessions: list) -> dict[str, Callable]:
    from django.db import connection

    from assistants import gateway
    from assistants.providers.registry import get_provider
    from chat import services
    from core.access import Caller
    from core.tenancy import current_organization
    from knowledge_base import retrieval
    from knowledge_base.models import Collection
    from knowledge_base.retrieval.vector import query_embedding_cache
    from users.models import Membership

    organization = current_organization()
    membership = Membership.objects.select_related("user").get(
        organization=organization, user__email=fixture.emails[0]
    )
    collection = Collection.objects.select_related("embedding_model").get(pk=fixture.collection_id)
    user, ids, filters = membership.user, [collection.id], retrieval.SearchFilters()
    vectors = {
        q: retrieval.embed_query(q, [collection], organization, user)[collection.embedding_model_id]
        for q in texts
    }

    def prepare(assistant: str, question: str) -> None:
        turn = services.chat_prepare(
            organization=organization,
            assistant_id=assistant,
            message=question,
            user=user,
            caller=Caller(organization, user, membership),
            channel="web",
        )
        sessions.append(turn.session.pk)

    def config() -> Any:
        return gateway.provider_config_for(provider="openai")

    def reconnect() -> None:
        connection.close()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")

    def uncached(fn: Callable[[str], Any]) -> Callable[[str], Any]:
        # A new question's embedding is not in the process's cache (the vectors above
        # are, for the searches): time it, and the turns, as a real new question.
        def call(q: str) -> Any:
            query_embedding_cache.clear()
            return fn(q)

        return call

    return {
        "new PostgreSQL connection (CONN_MAX_AGE=0)": lambda q: reconnect(),
        "credential lookup + decrypt": lambda q: config(),
        "new openai SDK client (per turn)": lambda q: get_provider(config()).client,
        "query embedding (local model, not cached; with its ledger row)": uncached(
            lambda q: retrieval.embed_query(q, [collection], organization, user)
        ),
        "vector search, pool 40": lambda q: retrieval.vector_search(
            embedding=vectors[q], dimensions=384, collection_ids=ids, limit=40, filters=filters
        ),
        "keyword search, pool 40": lambda q: retrieval.keyword_search(
            query=q, collection_ids=ids, limit=40, filters=filters
        ),
        "hybrid search, top 6 (embedding cached, both, fuse, snippets)": lambda q: retrieval.search(
            retrieval.SearchParams(query=q, collections=[collection], top_k=6),
            organization=organization,
            user=user,
        ),
        "hybrid search as a turn runs it (embedded beside the keyword half, no snippets)": (
            uncached(
                lambda q: retrieval.search(
                    retrieval.SearchParams(
                        query=q, collections=[collection], top_k=6, snippets=False
                    ),
                    organization=organization,
                    user=user,
                )
            )
        ),
        "chat_prepare, no collection": functools.partial(prepare, fixture.assistant_plain),
        "chat_prepare, 10k collection (query embedded)": uncached(
            functools.partial(prepare, fixture.assistant_kb)
        ),
    }


def _time_each(fn: Callable[[str], Any], texts: list[str]) -> dict:
    for text in texts[:3]:
        fn(text)  # warm-up
    return common.latency_summary([common.timed(functools.partial(fn, t))[0] for t in texts[3:]])


# -- 2. concurrent streams ----------------------------------------------------------------------


@dataclass
class Stream:
    user: int
    sent: float = 0.0
    status: int | None = None
    opened: float | None = None
    first_delta: float | None = None
    ended: float | None = None
    done: bool = False
    error: str = ""
    last_delta: float | None = None
    done_at: float | None = None


@dataclass
class Gauge:
    """Streams by state, as the client sees them, with the peaks."""

    pending: int = 0  # sent, no session event yet
    open: int = 0  # session event seen, not ended
    streaming: int = 0  # a delta seen, not ended
    peak_open: int = 0
    peak_streaming: int = 0
    moves: int = 0  # state changes: progress
    deltas: int = 0

    def move(self, before: str, after: str) -> None:
        self._count(before, -1)
        self._count(after, 1)
        self.moves += 1
        self.peak_open = max(self.peak_open, self.open)
        self.peak_streaming = max(self.peak_streaming, self.streaming)

    def _count(self, state: str, delta: int) -> None:
        if state == "pending":
            self.pending += delta
        if state in ("open", "streaming"):
            self.open += delta
        if state == "streaming":
            self.streaming += delta


class Sampler(threading.Thread):
    """uvicorn's RSS, threads and PostgreSQL connections, every SAMPLE_EVERY_S, with the gauge;
    and the CPU time of the fake provider, of this client and of the whole machine (shared
    with other work), to tell a busy server from a busy machine."""

    def __init__(
        self, pid: int, pg_port: int, gauge: Gauge, started: float, fake_pid: int | None = None
    ) -> None:
        import psutil

        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.others = {"client": psutil.Process()}
        if fake_pid:
            self.others["fake"] = psutil.Process(fake_pid)
        self.pg_port, self.gauge, self.started = pg_port, gauge, started
        self.samples: list[dict] = []
        self.pg = 0
        self.stopping = threading.Event()

    def sample(self) -> dict:
        # Counting PostgreSQL connections reads every TCP socket of the machine and every
        # descriptor of the worker (~0.1 s with 5,000 streams open, the GIL held in this
        # client): every PG_EVERY-th sample, the count carried in between.
        if len(self.samples) % PG_EVERY == 0:
            connections = self.process.net_connections(kind="tcp")
            self.pg = sum(
                1
                for c in connections
                if c.raddr and c.raddr.port == self.pg_port and c.status == "ESTABLISHED"
            )
        cpu = self.process.cpu_times()
        return {
            "t_s": round(time.perf_counter() - self.started, 2),
            "cpu_s": round(cpu.user + cpu.system, 2),
            "deltas": self.gauge.deltas,
            "rss_mb": round(self.process.memory_info().rss / 2**20, 1),
            "threads": self.process.num_threads(),
            "pg_connections": self.pg,
            "pending": self.gauge.pending,
            "open": self.gauge.open,
            "streaming": self.gauge.streaming,
            **{f"{name}_cpu_s": _cpu_s(process) for name, process in self.others.items()},
            "machine_busy_s": round(_machine_busy_s(), 2),
        }

    def run(self) -> None:
        while not self.stopping.is_set():
            self.samples.append(self.sample())
            self.stopping.wait(SAMPLE_EVERY_S)

    def peak(self, key: str) -> float:
        return max((s[key] for s in self.samples), default=0)


def _cpu_s(process: Any) -> float:
    cpu = process.cpu_times()
    return round(cpu.user + cpu.system, 2)


def _machine_busy_s() -> float:
    """CPU seconds all cores spent on anything but idling, since boot."""
    import psutil

    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


async def run_stream(
    client: httpx2.AsyncClient, user: Login, payload: dict, record: Stream, gauge: Gauge
):
    """One SSE stream to its end; the gauge follows its state."""
    state = "pending"
    record.sent = time.perf_counter()
    try:
        async with client.stream(
            "POST", "/api/v1/chat", json=payload, headers=user.headers
        ) as response:
            record.status = response.status_code
            if response.status_code != 200:
                body = (await response.aread())[:160].decode(errors="replace")
                record.error = f"HTTP {response.status_code}: {body}"
                return
            reader = SSEReader()
            async for data in response.aiter_raw():
                for name, body in reader.feed(data):
                    state = on_event(name, body, record, gauge, state)
    except (httpx2.HTTPError, OSError) as exc:
        record.error = f"{type(exc).__name__}: {exc}"[:160]
    finally:
        record.ended = time.perf_counter()
        gauge.move(state, "ended")


def on_event(name: str, body: str, record: Stream, gauge: Gauge, state: str) -> str:
    now = time.perf_counter()
    if name == "session" and state == "pending":
        record.opened = now
        gauge.move(state, "open")
        return "open"
    if name == "delta":
        gauge.deltas += 1
        record.last_delta = now
        if record.first_delta is None:
            record.first_delta = now
            gauge.move(state, "streaming")
            return "streaming"
    if name == "done":
        record.done, record.done_at = True, now
    elif name == "error":
        record.error = f"error event: {body}"[:160]
    return state


async def open_streams(n: int, start: Callable[[int], Any], gauge: Gauge) -> tuple[list, str]:
    """Ramp: at most OPEN_RATE/s and MAX_PENDING awaiting their session event.

    Returns the tasks and why opening stopped (all sent, stalled server, deadline)."""
    tasks: list[asyncio.Task] = []
    began = time.perf_counter()
    for number in range(n):
        if gauge.pending >= MAX_PENDING and not await progressed(gauge, until_pending_below=True):
            return tasks, f"server stalled: no stream progressed for {STALL_S} s"
        deadline = step_pace(n)[1]
        if time.perf_counter() - began >= deadline:
            return tasks, f"opening deadline ({deadline:.0f} s)"
        delay = began + number / OPEN_RATE - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        gauge.pending += 1
        tasks.append(asyncio.create_task(start(number)))
    return tasks, "all sent"


async def progressed(gauge: Gauge, *, until_pending_below: bool = False) -> bool:
    """Wait until the condition holds (pending below the cap, or every open stream had a
    delta); False when no stream changed state for STALL_S, or after SETTLE_CAP_S."""
    started = last_change = time.perf_counter()
    seen = gauge.moves
    while time.perf_counter() - started < SETTLE_CAP_S:
        if until_pending_below and gauge.pending < MAX_PENDING:
            return True
        if not until_pending_below and gauge.pending == 0 and gauge.streaming == gauge.open:
            return True
        if gauge.moves != seen:
            seen, last_change = gauge.moves, time.perf_counter()
        elif time.perf_counter() - last_change > STALL_S:
            return False
        await asyncio.sleep(0.005 if until_pending_below else 0.1)
    return False


@dataclass
class Target:
    """Where the load goes and what is watched."""

    base: str
    users: list[Login]
    assistant: str
    fake_url: str
    pid: int
    pg_port: int
    label: str
    fake_pid: int | None = None


@dataclass
class StepRun:
    """What one step observed."""

    n: int
    records: list[Stream]
    gauge: Gauge = field(default_factory=Gauge)
    sampler: Sampler | None = None
    before: dict = field(default_factory=dict)
    fake_stats: dict = field(default_factory=dict)
    settled: bool = False
    opening_s: float = 0.0
    released: float = 0.0
    peak_open: int = 0  # before the release: what was held at once
    peak_streaming: int = 0
    opening_end: str = ""
    hold_from: float = 0.0


async def run_step(target: Target, n: int) -> dict:
    step = f"{target.label.split()[0]}-{n}-{os.getpid()}-{int(time.time())}"
    texts = questions(n, offset=300)
    run = StepRun(n, [Stream(user=i % len(target.users)) for i in range(n)])
    limits = httpx2.Limits(max_connections=None, max_keepalive_connections=0)
    timeout = httpx2.Timeout(connect=30, read=120, write=30, pool=None)
    async with (
        httpx2.AsyncClient(
            base_url=target.base, limits=limits, timeout=timeout, trust_env=False
        ) as client,
        httpx2.AsyncClient(base_url=target.fake_url, trust_env=False, timeout=10) as fake,
    ):
        await fake.get("/bench/reset")

        def start(i: int) -> Any:
            record = run.records[i]
            question = f"{texts[i]} {hold_marker(step, n)}"
            payload = {"assistant": target.assistant, "message": question}
            return run_stream(client, target.users[record.user], payload, record, run.gauge)

        began = time.perf_counter()
        run.sampler = Sampler(target.pid, target.pg_port, run.gauge, began, target.fake_pid)
        run.before = run.sampler.sample()
        run.sampler.start()
        try:
            tasks, run.opening_end = await open_streams(n, start, run.gauge)
            run.opening_s = time.perf_counter() - began
            await hold_and_release(run, tasks, fake, step)
        finally:
            run.sampler.stopping.set()
            run.sampler.join()
    return summarise_step(target, run)


async def hold_and_release(run: StepRun, tasks: list[asyncio.Task], fake: Any, step: str) -> None:
    """Wait for every stream's first delta, hold, release, drain (bounded in time)."""
    gauge = run.gauge
    run.settled = await progressed(gauge)
    run.hold_from = time.perf_counter()
    await asyncio.sleep(HOLD_S)
    spread = max(2.0, run.n / 50)  # real answers end at different times
    release = await fake.get("/bench/release", params={"step": step, "spread": spread})
    run.fake_stats, run.released = release.json(), time.perf_counter()
    run.peak_open, run.peak_streaming = gauge.peak_open, gauge.peak_streaming
    _, unfinished = await asyncio.wait(tasks, timeout=spread + DRAIN_GRACE_S) if tasks else ((), ())
    for task in unfinished:
        task.cancel()
    await asyncio.gather(*unfinished, return_exceptions=True)
    for record in run.records:
        if not record.sent:
            record.error = f"not sent: {run.opening_end}"
        elif not record.done and not record.error:
            record.error = "no done event (cut at the drain deadline)"


def summarise_step(target: Target, run: StepRun) -> dict:
    records, sampler = run.records, run.sampler
    ttft = [r.first_delta - r.sent for r in records if r.first_delta]
    early = [
        r.first_delta - r.sent for r in records if r.first_delta and r.first_delta < run.released
    ]
    session = [r.opened - r.sent for r in records if r.opened]
    errors = Counter(r.error for r in records if r.error)
    rss_peak = sampler.peak("rss_mb")
    result = {
        "server": target.label,
        "streams": run.n,
        "opened": sum(1 for r in records if r.opened),
        "got_delta": len(ttft),
        "done": sum(1 for r in records if r.done),
        "error_count": sum(errors.values()),
        "errors": dict(errors.most_common(6)),
        "status_codes": dict(Counter(str(r.status) for r in records)),
        "opening_s": round(run.opening_s, 1),
        "opening_end": run.opening_end,
        "open_rate_per_s": round(run.n / run.opening_s, 1) if run.opening_s else None,
        "all_streaming_before_release": run.settled,
        "peak_open": run.peak_open,
        "peak_streaming": run.peak_streaming,
        "provider_peak_concurrent": run.fake_stats.get("peak"),
        "ttft": _summary(ttft),
        "ttft_before_release": _summary(early),
        "time_to_session_event": _summary(session),
        "rss_before_mb": run.before["rss_mb"],
        "rss_peak_mb": rss_peak,
        "rss_per_open_stream_kb": round(
            (rss_peak - run.before["rss_mb"]) * 1024 / max(run.peak_open, 1), 1
        ),
        "threads_before": run.before["threads"],
        "threads_peak": sampler.peak("threads"),
        "pg_connections_peak": sampler.peak("pg_connections"),
        "hold_window": hold_window(run),
        "drain": drain_summary(run),
        "opening_window": opening_window(run),
        "timeline": sampler.samples,
    }
    result["held"] = (
        result["peak_streaming"] >= run.n and result["done"] == run.n and not result["error_count"]
    )
    return result


def drain_summary(run: StepRun) -> dict | None:
    """After the release: how fast the worker ended streams with ``done`` (the answers
    stored), and how long a stream waited between its last delta and its ``done`` (the
    finishing write, batched or queued), as the client saw them."""
    if not run.released:
        return None
    dones = sorted(r.done_at for r in run.records if r.done_at and r.done_at >= run.released)
    waits = [r.done_at - r.last_delta for r in run.records if r.done_at and r.last_delta]
    if not dones:
        return {"done_after_release": 0}
    window = dones[-1] - run.released
    rates = Counter(int(t - run.released) // 10 for t in dones)
    return {
        "done_after_release": len(dones),
        "last_done_after_release_s": round(window, 1),
        "done_per_s": round(len(dones) / window, 1) if window > 0 else None,
        "done_per_s_peak_10s": max(rates.values()) / 10,
        "last_delta_to_done": _summary(waits),
        "last_delta_to_done_max_ms": round(max(waits) * 1000, 1) if waits else None,
    }


def hold_window(run: StepRun) -> dict | None:
    """uvicorn's CPU while every stream was held (no opening, no ending): cost per delta."""
    began = run.sampler.started
    window = [
        s for s in run.sampler.samples if run.hold_from - began <= s["t_s"] <= run.released - began
    ]
    if not run.settled or len(window) < 2:
        return None
    first, last = window[0], window[-1]
    seconds, deltas = last["t_s"] - first["t_s"], last["deltas"] - first["deltas"]
    cpu = last["cpu_s"] - first["cpu_s"]
    return {
        "seconds": round(seconds, 1),
        "uvicorn_cpu_percent": round(100 * cpu / seconds, 1),
        "deltas_per_s": round(deltas / seconds, 1),
        "cpu_us_per_delta": round(1e6 * cpu / deltas, 1) if deltas else None,
        **cpu_shares(first, last),
    }


def opening_window(run: StepRun) -> dict | None:
    """CPU use while the streams were being opened (the ramp)."""
    window = [s for s in run.sampler.samples if s["t_s"] <= run.opening_s]
    if len(window) < 2:
        return None
    first, last = window[0], window[-1]
    seconds = last["t_s"] - first["t_s"]
    return {
        "seconds": round(seconds, 1),
        "uvicorn_cpu_percent": round(100 * (last["cpu_s"] - first["cpu_s"]) / seconds, 1),
        **cpu_shares(first, last),
    }


def cpu_shares(first: dict, last: dict) -> dict:
    """CPU % (100 = one core) of the fake provider, this client and the whole machine."""
    seconds = last["t_s"] - first["t_s"]
    keys = [k for k in ("fake_cpu_s", "client_cpu_s", "machine_busy_s") if k in first]
    return {
        k.replace("_cpu_s", "_cpu_percent").replace("_busy_s", "_busy_percent"): round(
            100 * (last[k] - first[k]) / seconds, 1
        )
        for k in keys
    }


def _summary(seconds: list[float]) -> dict | None:
    return common.latency_summary(seconds) if seconds else None


async def ladder(target: Target, steps: tuple[int, ...]) -> list[dict]:
    """Steps in turn; stop at the first step not held (its peak is the maximum reached)."""
    results = []
    for n in steps:
        print(f"  {target.label}: {n} streams ...", flush=True)
        result = await run_step(target, n)
        results.append(result)
        print(
            f"    opened {result['opened']}, streaming at once {result['peak_streaming']}, "
            f"done {result['done']}, errors {result['error_count']}, "
            f"drain {result['drain']}, "
            f"provider peak {result['provider_peak_concurrent']}, RSS {result['rss_before_mb']:.0f}"
            f" -> {result['rss_peak_mb']:.0f} MB",
            flush=True,
        )
        if not result["held"]:
            break
        await asyncio.sleep(3)  # let the last answers' database work finish
    return results


def make_target(
    child: Child, base: str, users: list[Login], assistant: str, fake: Child, fake_url: str
) -> Target:
    from django.conf import settings

    pg_port = urlsplit(settings.DATABASE_URL).port or 5432
    return Target(
        base, users, assistant, fake_url, child.process.pid, pg_port, child.name, fake.process.pid
    )


def cold_burst(target: Target) -> dict:
    """COLD_BURST streams at once to a worker that has served no chat yet."""
    print(f"cold burst: {COLD_BURST} streams at once to the fresh worker", flush=True)
    result = asyncio.run(run_step(target, COLD_BURST))
    session = result["time_to_session_event"] or {}
    print(
        f"  session event p50 {session.get('p50_ms', 0) / 1000:.1f} s, p95 "
        f"{session.get('p95_ms', 0) / 1000:.1f} s; RSS {result['rss_before_mb']:.0f} -> "
        f"{result['rss_peak_mb']:.0f} MB; PostgreSQL connections {result['pg_connections_peak']}",
        flush=True,
    )
    return result


def concurrency(target: Target, child: Child, steps: tuple[int, ...]) -> dict:
    results = asyncio.run(ladder(target, steps))
    return {
        "server": child.name,
        "steps": results,
        "max_held": max((r["peak_streaming"] for r in results if r["held"]), default=0),
        "max_streaming_at_once": max(r["peak_streaming"] for r in results),
        "max_open_at_once": max(r["peak_open"] for r in results),
        "uvicorn_log_problems": log_problems(child),
    }


# -- report ---------------------------------------------------------------------------------


def print_ttft(report: dict) -> None:
    rows = [["provider alone (openai SDK)", *_p(report["provider_ttft"])]]
    for name, label in (("plain", "no collection"), ("kb", "10k collection")):
        part = report[name]
        rows += [
            [f"platform TTFT, {label}", *_p(part["platform_ttft"])],
            [f"  overhead (paired), {label}", *_p(part["overhead"])],
            [f"  server TTFT from chat_prepare, {label}", *_p(part["server_ttft_from_prepare"])],
            [
                f"  before chat_prepare (HTTP, auth, DRF), {label}",
                *_p(part["request_handling_before_prepare"]),
            ],
        ]
    print(f"\nTime to first token, {report['rounds']} sequential rounds (ms)")
    common.print_table(["", "p50", "p95", "mean", "n"], rows)


def print_breakdown(breakdown: dict) -> None:
    print("\nIn-process breakdown of a turn's preparation (ms)")
    common.print_table(["", "p50", "p95", "mean", "n"], [[k, *_p(v)] for k, v in breakdown.items()])


def print_concurrency(passes: list[dict]) -> None:
    headers = [
        "server",
        "N",
        "opened",
        "streaming",
        "done",
        "errors",
        "provider peak",
        "TTFT p50 s",
        "TTFT p95 s",
        "open/s",
        "RSS MB",
        "peak MB",
        "KB/stream",
        "threads",
        "pg conns",
        "CPU %",
        "deltas/s",
        "us/delta",
    ]
    rows = []
    for run in passes:
        for s in run["steps"]:
            ttft = s["ttft"] or {"p50_ms": float("nan"), "p95_ms": float("nan")}
            rows.append(
                [
                    s["server"],
                    s["streams"],
                    s["opened"],
                    s["peak_streaming"],
                    s["done"],
                    s["error_count"],
                    s["provider_peak_concurrent"],
                    ttft["p50_ms"] / 1000,
                    ttft["p95_ms"] / 1000,
                    s["open_rate_per_s"],
                    s["rss_before_mb"],
                    s["rss_peak_mb"],
                    s["rss_per_open_stream_kb"],
                    s["threads_peak"],
                    s["pg_connections_peak"],
                    *_hold_cells(s["hold_window"]),
                ]
            )
    print("\nConcurrent SSE streams, one uvicorn worker")
    common.print_table(headers, rows)
    cores = os.cpu_count() or 1
    print(f"CPU % (100 = one core, the machine has {cores}): opening ramp | all held")
    for run in passes:
        for s in run["steps"]:
            cells = [_cpu_cells(s.get("opening_window")), _cpu_cells(s.get("hold_window"))]
            print(f"  {s['streams']:>5} streams: {cells[0]} | {cells[1]}")
    for run in passes:
        for s in run["steps"]:
            if s["errors"] or s["opening_end"] != "all sent":
                print(
                    f"  {run['server']}, {s['streams']} streams: {s['opening_end']}; errors: {s['errors']}"
                )
        if run["uvicorn_log_problems"]:
            print(f"  {run['server']} log: {run['uvicorn_log_problems'][:4]}")


def _cpu_cells(window: dict | None) -> str:
    if not window:
        return "-"
    names = (
        ("uvicorn", "uvicorn_cpu_percent"),
        ("fake provider", "fake_cpu_percent"),
        ("client", "client_cpu_percent"),
        ("machine", "machine_busy_percent"),
    )
    return ", ".join(f"{label} {window[key]:.0f}" for label, key in names if key in window)


def _hold_cells(window: dict | None) -> list:
    if window is None:
        return ["-", "-", "-"]
    return [
        window["uvicorn_cpu_percent"],
        window["deltas_per_s"],
        window["cpu_us_per_delta"] or "-",
    ]


def _p(summary: dict) -> list:
    return [summary["p50_ms"], summary["p95_ms"], summary["mean_ms"], summary["n"]]


def verdicts(ttft: dict, stock: dict, targets: tuple[float, float]) -> dict:
    overhead = ttft["kb"]["overhead"]
    return {
        "ttft_overhead_p50": overhead["p50_ms"] <= targets[0],
        "ttft_overhead_p95": overhead["p95_ms"] <= targets[1],
        "concurrent_streams": stock["max_held"] >= TARGET_STREAMS,
    }


def print_verdicts(
    ttft: dict, passes: list[dict], targets: tuple[float, float], result: dict
) -> None:
    overhead, stock = ttft["kb"]["overhead"], passes[0]
    print(
        f"\nTTFT overhead (10k collection, paired): p50 {overhead['p50_ms']:.0f} ms "
        f"(target <= {targets[0]:.0f}: {common.verdict(result['ttft_overhead_p50'])}), "
        f"p95 {overhead['p95_ms']:.0f} ms (target <= {targets[1]:.0f}: "
        f"{common.verdict(result['ttft_overhead_p95'])}); targets assumed, not from the brief"
    )
    print(
        f"Concurrent streams, stock worker: largest step held {stock['max_held'] or 'none'}; "
        f"streaming at once at most {stock['max_streaming_at_once']}, open at once at most "
        f"{stock['max_open_at_once']} (target {TARGET_STREAMS}: "
        f"{common.verdict(result['concurrent_streams'])})"
    )
    held = next((r for r in stock["steps"] if r["streams"] == stock["max_held"]), None)
    if held:
        print(
            f"  at {held['streams']} streams: {held['rss_per_open_stream_kb']:.0f} KB of RSS and "
            f"{(held['threads_peak'] - held['threads_before']) / held['streams']:.2f} threads "
            f"per stream, {held['pg_connections_peak']} PostgreSQL connections at the peak"
        )


# -- main ------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 rounds; 100 and 250 streams")
    parser.add_argument("--steps", type=int, nargs="+", help="stream counts of the ladder")
    parser.add_argument("--rounds", type=int, help="sequential TTFT rounds")
    parser.add_argument(
        "--load-with-retrieval",
        action="store_true",
        help="streams use the 10k-collection assistant (opening is then slower)",
    )
    assumed = "assumed target (no figure was specified)"
    parser.add_argument(
        "--target-overhead-p50-ms", type=float, default=TARGET_OVERHEAD_P50_MS, help=assumed
    )
    parser.add_argument(
        "--target-overhead-p95-ms", type=float, default=TARGET_OVERHEAD_P95_MS, help=assumed
    )
    parser.add_argument(
        "--open-rate-floor",
        type=float,
        default=OPEN_RATE_FLOOR,
        help="a step gives up opening after N / this many seconds (a busy machine opens slowly)",
    )
    parser.add_argument("--note", default="", help="stored with the results (e.g. machine load)")
    parser.add_argument("--serve-fake", metavar="KEY", help=argparse.SUPPRESS)
    return parser.parse_args()


def run(args: argparse.Namespace, children: Children) -> int:
    global OPEN_RATE_FLOOR
    OPEN_RATE_FLOOR = args.open_rate_floor
    rounds = args.rounds or (QUICK_SEQUENTIAL if args.quick else SEQUENTIAL)
    steps = tuple(args.steps or (QUICK_STEPS if args.quick else STEPS))
    started, load_start = time.perf_counter(), os.getloadavg()
    common.setup_django()
    for name in ("httpx2", "httpcore2", "openai"):
        logging.getLogger(name).setLevel(logging.WARNING)  # no line per request
    fake, fake_url = start_fake(children)
    fixture = prepare_fixture(fake_url)
    print(f"collection: {fixture.chunks} chunks ({fixture.chunk_source})", flush=True)
    server, base = start_uvicorn(children)
    users = [login(base, email) for email in fixture.emails]
    print(f"uvicorn pid {server.process.pid} at {base}; {len(users)} users logged in", flush=True)
    load = fixture.assistant_kb if args.load_with_retrieval else fixture.assistant_plain
    target = make_target(server, base, users, load, fake, fake_url)
    cold = cold_burst(target)
    print(f"sequential TTFT: {rounds} rounds (+{WARMUP} warm-up)", flush=True)
    ttft = sequential_ttft(base, users[0], fixture, fake_url, rounds)
    print_ttft(ttft)
    breakdown = in_process_breakdown(fixture, QUICK_BREAKDOWN if args.quick else BREAKDOWN)
    print_breakdown(breakdown)
    print(f"\nconcurrent streams: steps {steps}", flush=True)
    passes = [concurrency(target, server, steps)]
    server.stop()
    print_concurrency(passes)
    targets = (args.target_overhead_p50_ms, args.target_overhead_p95_ms)
    result = verdicts(ttft, passes[0], targets)
    print_verdicts(ttft, passes, targets, result)
    common.write_results(
        "chat",
        {
            "method": __doc__,
            "note": args.note,
            "quick": args.quick,
            "fixture": asdict(fixture),
            "targets": {
                "ttft_overhead_p50_ms": targets[0],
                "ttft_overhead_p95_ms": targets[1],
                "ttft_targets_assumed": True,
                "concurrent_streams": TARGET_STREAMS,
            },
            "load_shape": {
                "assistant": "10k collection" if args.load_with_retrieval else "no collection",
                "delta_every_s": DELTA_EVERY_S,
                "max_deltas_per_s": MAX_DELTAS_PER_S,
                "open_rate_per_s": OPEN_RATE,
                "max_pending": MAX_PENDING,
                "hold_s": HOLD_S,
                "users": USERS,
            },
            "ttft": ttft,
            "breakdown": breakdown,
            "cold_burst": cold,
            "concurrency": passes,
            "verdicts": result,
            "load_average_start": load_start,
            "load_average_end": os.getloadavg(),
            "elapsed_s": round(time.perf_counter() - started, 1),
        },
    )
    return 0 if all(result.values()) else 1


def raise_open_files_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit, for this client and the children it starts
    (they inherit it): 5,000 streams are 5,000 sockets here, two per stream in uvicorn
    (client and provider) and 5,000 in the fake provider."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return wanted


def main() -> int:
    args = parse_args()
    if args.serve_fake:
        serve_fake(args.serve_fake)
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup below
    raise_open_files_limit()
    children = Children()
    try:
        return run(args, children)
    finally:
        children.stop_all()


if __name__ == "__main__":
    sys.exit(main())

"""Conversation intelligence: import throughput with embeddings, and history search latency.

Run from the repository root: ``python bench/conversations.py`` (import of 2,000 messages,
search at 100k messages, ~10 min on 2 cores); ``--quick`` imports 600 messages and searches
10k messages; ``--sizes 10k 100k 1m`` picks the search sizes (1M takes long: building the
HNSW index alone is tens of minutes here).

Import (target: ratio >= 0.85). A generic-JSON export of N messages (conversations of 20
turns, real sentences) is imported by the platform's own job (parse, sessions and
messages written, keyed on the source ids) and every message indexed (embedded in
batches with the local embedder through the gateway, ledger rows, vector + full-text
entries written) -- ``importing.conversation_import_run``, and
``indexing.messages_index_pending`` in the indexing tasks the import sends while it
runs and at its end, run by a second worker (a thread here, ``IndexWorker``). The raw baseline embeds the same texts (cut at the
same length) in the same batch size straight through the local provider, nothing else.
Ratio = platform messages/s / bare-embedder messages/s. Each side runs ``--runs`` times
(2 by default), alternating (ABAB...), on the organization's schema; the best run of each
counts, and the ratio of each back-to-back pair and their median are reported too.

Search (targets: >= 50x faster than the seed design at 100k; hybrid p50 <= 50 ms at 1M).
Synthetic messages in one organization: sessions of 100 messages, 90% of them the
benchmark person's (the searcher), 10% another person's (visibility must filter them
out). Each message's text is one of 240 real sentences with a number appended; its
vector is that sentence's real embedding plus gaussian noise (sigma 0.025 per dimension,
re-normalised, as bench/search.py does), so the data keeps the clusters of real text.
Rows are loaded with binary COPY; the HNSW index is rebuilt after the load (the
migration's definition); ``search_vector`` is computed by PostgreSQL. Queries: 50
sentences (paraphrases of seed sentences), embedded once up front (embedding excluded
on both sides). Platform: ``search.history_search`` (visibility subquery, ranking,
details with neighbours and snippets) per mode, page of 10. Seed design baseline: the
messages' embeddings stored as JSON text (a side table of the same vectors), the
searcher's messages' rows fetched, ``json.loads`` each, cosine computed with numpy over
all of them, top 10 -- a charitable version (vectorised, not a Python loop).

Results: bench/results/conversations-<UTC stamp>.json and conversations-latest.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/common.py

import common

ORG_SLUG = "benchconvos"
SIZES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}
MESSAGES_PER_SESSION = 100
OTHER_SHARE = 0.1
NOISE_SIGMA = 0.025
DIMENSIONS = 384
QUERIES = 50
SEED = 20261130
MIN_IMPORT_RATIO = 0.85
MIN_SEARCH_SPEEDUP = 50
MAX_HYBRID_P50_MS_AT_1M = 50
BASELINE_QUERIES = {"10k": 10, "100k": 3, "1m": 2}

TOPICS = {
    "travel": [
        "a trip to Lisbon in May",
        "train tickets from Paris to Milan",
        "a cheap hotel near the beach in Porto",
        "the best time to visit Kyoto",
        "packing for a week of hiking in Norway",
        "renting a car in Iceland",
    ],
    "cooking": [
        "a quick pasta recipe with garlic",
        "baking sourdough bread at home",
        "a vegetarian curry for six people",
        "how long to roast a chicken",
        "making fresh tomato sauce",
        "a gluten free chocolate cake",
    ],
    "money": [
        "the documents needed for a tax return",
        "saving for a house deposit",
        "comparing index funds and bonds",
        "a monthly budget for a student",
        "paying off a credit card faster",
        "how mortgages calculate interest",
    ],
    "fitness": [
        "a marathon training plan",
        "avoiding knee pain when running",
        "a beginner strength routine",
        "stretching after cycling",
        "how much protein after a workout",
        "swimming technique for breathing",
    ],
    "code": [
        "a Python script to rename files",
        "fixing a null pointer exception in Java",
        "writing a SQL query with a join",
        "setting up a React project with Vite",
        "unit tests for a Django view",
        "reading a CSV file with pandas",
    ],
    "garden": [
        "tomatoes that grow well on a balcony",
        "when to prune apple trees",
        "keeping slugs away from lettuce",
        "composting kitchen scraps",
        "watering succulents in summer",
        "planting tulip bulbs in autumn",
    ],
    "work": [
        "preparing for a job interview",
        "writing a polite reminder email",
        "asking for a raise",
        "running a productive team meeting",
        "a cover letter for a design job",
        "giving feedback to a colleague",
    ],
    "health": [
        "sleeping better at night",
        "drinking enough water every day",
        "reducing screen time before bed",
        "a calm breathing exercise",
        "a first aid kit for travel",
        "seasonal allergies and pollen",
    ],
}
TEMPLATES = [
    "Can you help me with {t}?",
    "Here is a plan for {t}: start early and keep notes.",
    "What should I know about {t}?",
    "Thanks, the advice about {t} was useful.",
    "Let me summarise what we said about {t}.",
]
PARAPHRASES = [
    "what did I ask about {t}",
    "advice on {t}",
    "notes about {t}",
]


def seed_sentences() -> list[str]:
    return [tmpl.format(t=t) for items in TOPICS.values() for t in items for tmpl in TEMPLATES]


def query_texts(count: int, rng: random.Random) -> list[str]:
    topics = [t for items in TOPICS.values() for t in items]
    return [rng.choice(PARAPHRASES).format(t=rng.choice(topics)) for _ in range(count)]


def embed(texts: list[str], batch: int = 64) -> np.ndarray:
    return np.asarray(_provider_embed(texts, batch), dtype=np.float32)


def _provider_embed(texts: list[str], batch: int) -> list[list[float]]:
    from assistants import gateway

    model = common.local_embedding_model()
    provider = gateway.provider_for(model)
    vectors: list[list[float]] = []
    for start in range(0, len(texts), batch):
        vectors.extend(provider.embed(model.model_id, texts[start : start + batch]).vectors)
    return vectors


# -- import throughput -------------------------------------------------------------------


def export_of(messages: int, rng: random.Random, tag: str) -> tuple[bytes, list[str]]:
    sentences = seed_sentences()
    conversations, texts = [], []
    for c in range(messages // 20):
        turns = []
        for t in range(20):
            text = f"{rng.choice(sentences)} ({tag} {c}.{t}) " + rng.choice(sentences)
            texts.append(text)
            turns.append(
                {
                    "role": "user" if t % 2 == 0 else "assistant",
                    "text": text,
                    "timestamp": 1_700_000_000 + c * 1000 + t,
                }
            )
        conversations.append(
            {
                "id": f"{tag}-{c}",
                "title": f"Conversation {c}",
                "create_time": 1_700_000_000 + c * 1000,
                "turns": turns,
            }
        )
    return json.dumps(conversations).encode(), texts


class IndexWorker:
    """The second Celery worker of a deployment (``CELERY_CONCURRENCY`` 2), in a thread
    of this process with its own database connection: each indexing task the import
    sends (``queue.enqueue``, while it runs and at its end) runs
    ``messages_index_pending`` here, in order, as the worker would."""

    def __init__(self, organization) -> None:
        import queue as queues
        import threading

        self.organization = organization
        self.indexed = 0
        self.requests: queues.Queue = queues.Queue()
        self.thread = threading.Thread(target=self._run, name="index-worker")
        self.thread.start()

    def enqueue(self, name: str, *args, countdown: float | None = None) -> None:
        from chat.conversations import queue

        if name == queue.INDEX:
            self.requests.put(name)

    def _run(self) -> None:
        from django.db import connection
        from django_tenants.utils import schema_context

        from chat.conversations import indexing

        try:
            with schema_context(self.organization.schema_name):
                while self.requests.get() is not None:
                    self.indexed += indexing.messages_index_pending(organization=self.organization)
        finally:
            connection.close()

    def finish(self) -> int:
        """Wait for the tasks sent so far; how many messages they indexed."""
        self.requests.put(None)
        self.thread.join()
        return self.indexed


def measure_import(organization, messages: int, repeats: int = 2) -> dict:
    from django.conf import settings
    from django.db import connection

    from chat.conversations import importing, indexing
    from chat.models import ChatSession
    from core.api.authorization import caller_resolve

    rng = random.Random(SEED)
    user = bench_user()
    caller = caller_resolve(organization=organization, user=user, api_key=None)
    batch = settings.CONVERSATIONS_EMBED_BATCH_SIZE
    cut = settings.CONVERSATIONS_EMBED_MAX_CHARS
    _provider_embed(["warm up the model"] * batch, batch)
    runs = {"platform": [], "bare_embedder": []}
    for run in range(repeats):
        data, texts = export_of(messages, rng, f"run{run}")
        started = time.perf_counter()
        _provider_embed([t[:cut] for t in texts], batch)
        runs["bare_embedder"].append(time.perf_counter() - started)
        started = time.perf_counter()
        worker = IndexWorker(organization)
        with mock.patch("chat.conversations.queue.enqueue", worker.enqueue):
            job = importing.conversations_import_create(
                caller=caller, name="bench.json", data=data, source="json", enqueue=False
            )
            job = importing.conversation_import_run(import_id=job.pk)
        indexed = worker.finish() + indexing.messages_index_pending(organization=organization)
        runs["platform"].append(time.perf_counter() - started)
        assert job.messages_imported == messages and indexed == messages, (
            job.messages_imported,
            indexed,
        )
        ChatSession.objects.filter(source="json").delete()
        # Each run starts from the same tables: the deleted run's entries are vacuumed
        # out of the indexes (as autovacuum would), not left for the next run's HNSW
        # inserts to walk through.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM chat_message, chat_messagesearchentry, chat_chatsession")
    bare, platform = min(runs["bare_embedder"]), min(runs["platform"])
    # On a loaded machine one side of a pair can be slowed by others' work: the ratio of
    # each pair (run n of both sides, back to back) shows the spread.
    pairs = [b / p for b, p in zip(runs["bare_embedder"], runs["platform"], strict=True)]
    return {
        "pair_ratios": pairs,
        "median_pair_ratio": float(np.median(pairs)),
        "messages": messages,
        "batch_size": batch,
        "bare_embedder_s": runs["bare_embedder"],
        "platform_s": runs["platform"],
        "bare_embedder_messages_per_s": messages / bare,
        "platform_messages_per_s": messages / platform,
        "ratio": bare / platform,
        "target": MIN_IMPORT_RATIO,
        "verdict": common.verdict(bare / platform >= MIN_IMPORT_RATIO),
    }


# -- search ------------------------------------------------------------------------------


def bench_user(email: str = "bench-convos@example.test"):
    from users.models import Membership, User
    from users.services import user_create

    user = User.objects.filter(email=email).first() or user_create(
        email=email, password=uuid.uuid4().hex, verified=True
    )
    from core.tenancy import current_organization

    Membership.objects.get_or_create(
        user=user, organization=current_organization(), defaults={"role": "member"}
    )
    return user


def bench_assistant():
    from assistants import services as assistant_services
    from assistants.catalog.models import AIModel
    from assistants.models import Assistant

    existing = Assistant.objects.filter(name="bench").first()
    if existing:
        return existing
    model = AIModel.objects.get(provider="local", model_id="extractive")
    return assistant_services.assistant_create(user=None, name="bench", model=model)


def load_messages(
    total: int, rng: np.random.Generator, seeds: list[str], seed_vectors: np.ndarray, owner, other
) -> None:
    """Sessions, messages and their search entries by binary COPY; the HNSW index is
    rebuilt afterwards and the full-text vectors computed by PostgreSQL."""
    from django.db import connection

    from chat.conversations.indexing import ensure_message_vector_index

    assistant = bench_assistant()
    sessions = total // MESSAGES_PER_SESSION
    start = datetime(2023, 1, 1, tzinfo=UTC)
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX IF EXISTS message_embedding_hnsw_384")
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_message_json (message_id uuid PRIMARY KEY, session_id uuid, embedding text)"
        )
    raw = connection.connection
    session_rows, message_rows, entry_rows, json_rows = [], [], [], []
    for s in range(sessions):
        sid = uuid.uuid4()
        owner_id = other.pk if s % int(1 / OTHER_SHARE) == 0 else owner.pk
        session_rows.append(
            (sid, assistant.pk, owner_id, f"Bench conversation {s}", start + timedelta(hours=s))
        )
        picks = rng.integers(0, len(seeds), MESSAGES_PER_SESSION)
        noise = rng.normal(0, NOISE_SIGMA, (MESSAGES_PER_SESSION, DIMENSIONS)).astype(np.float32)
        vectors = seed_vectors[picks] + noise
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        for m in range(MESSAGES_PER_SESSION):
            mid = uuid.uuid4()
            when = start + timedelta(hours=s, seconds=m)
            role = "user" if m % 2 == 0 else "assistant"
            message_rows.append((mid, sid, role, f"{seeds[picks[m]]} #{s}.{m}", when))
            entry_rows.append((mid, sid, role, when, vectors[m]))
            json_rows.append((mid, sid, json.dumps([round(float(x), 6) for x in vectors[m]])))
        if len(message_rows) >= 20_000 or s == sessions - 1:
            _copy(raw, session_rows, message_rows, entry_rows, json_rows)
            session_rows, message_rows, entry_rows, json_rows = [], [], [], []
            print(f"  loaded {(s + 1) * MESSAGES_PER_SESSION:,}/{total:,} messages", flush=True)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE chat_messagesearchentry e SET search_vector = to_tsvector('english', m.content) "
            "FROM chat_message m WHERE m.id = e.message_id AND e.search_vector IS NULL"
        )
        cursor.execute(
            "UPDATE chat_chatsession s SET message_count = %s, last_message_at = created_at "
            "WHERE message_count = 0",
            [MESSAGES_PER_SESSION],
        )
    print("  building the HNSW index", flush=True)
    ensure_message_vector_index(384)
    with connection.cursor() as cursor:
        cursor.execute(
            "ANALYZE chat_chatsession; ANALYZE chat_message; ANALYZE chat_messagesearchentry; ANALYZE bench_message_json"
        )


def _copy(raw, sessions, messages, entries, json_rows) -> None:
    with raw.cursor() as cursor:
        with cursor.copy(
            "COPY chat_chatsession (id, assistant_id, created_by_id, title, created_at, updated_at, "
            "channel, external_user_id, description, tags, is_archived, is_shared, message_count, "
            "total_tokens, total_cost, source, source_id, source_model) FROM STDIN"
        ) as copy:
            for sid, aid, uid, title, when in sessions:
                copy.write_row(
                    (
                        sid,
                        aid,
                        uid,
                        title,
                        when,
                        when,
                        "web",
                        "",
                        "",
                        "{}",
                        False,
                        False,
                        0,
                        0,
                        0,
                        "platform",
                        "",
                        "",
                    )
                )
        with cursor.copy(
            "COPY chat_message (id, session_id, role, content, created_at, updated_at, status, error, "
            "is_edited, original_content, provider, model, prompt_tokens, completion_tokens, "
            "total_tokens, cost, estimated_prompt_tokens, retrieval_query, sources, feedback_comment, "
            "source_id, source_content_type, source_attachments, context_omitted, search_pending) FROM STDIN"
        ) as copy:
            for mid, sid, role, content, when in messages:
                copy.write_row(
                    (
                        mid,
                        sid,
                        role,
                        content,
                        when,
                        when,
                        "complete",
                        "",
                        False,
                        "",
                        "",
                        "",
                        0,
                        0,
                        0,
                        0,
                        0,
                        "",
                        "[]",
                        "",
                        "",
                        "",
                        "[]",
                        "[]",
                        False,
                    )
                )
        with cursor.copy(
            "COPY chat_messagesearchentry (message_id, session_id, role, created_at, embedding, "
            "embedding_dimensions, embedding_model, indexed_at) FROM STDIN"
        ) as copy:
            for mid, sid, role, when, vector in entries:
                copy.write_row(
                    (
                        mid,
                        sid,
                        role,
                        when,
                        "[" + ",".join(f"{x:.6f}" for x in vector) + "]",
                        DIMENSIONS,
                        "local/all-minilm-l6-v2",
                        when,
                    )
                )
        with cursor.copy(
            "COPY bench_message_json (message_id, session_id, embedding) FROM STDIN"
        ) as copy:
            for row in json_rows:
                copy.write_row(row)
    raw.commit()


def purge() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_message_json")
        cursor.execute("TRUNCATE chat_messagesearchentry, chat_message, chat_chatsession CASCADE")


def seed_design_search(owner, query: np.ndarray) -> list:
    """The seed documents' approach: JSON embeddings, cosine in Python over them all."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT j.message_id, j.embedding FROM bench_message_json j "
            "JOIN chat_chatsession s ON s.id = j.session_id WHERE s.created_by_id = %s OR s.is_shared",
            [owner.pk],
        )
        rows = cursor.fetchall()
    ids = [r[0] for r in rows]
    matrix = np.asarray([json.loads(r[1]) for r in rows], dtype=np.float32)
    scores = matrix @ query / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(query))
    top = np.argsort(-scores)[:10]
    return [ids[i] for i in top]


def measure_search(label: str, total: int, organization, rebuild: bool) -> dict:
    from chat.conversations import search
    from chat.models import Message
    from core.api.authorization import caller_resolve

    rng = np.random.default_rng(SEED)
    owner, other = bench_user(), bench_user("bench-convos-other@example.test")
    present = Message.objects.count()
    if rebuild or present != total:
        print(f"building {label} ({total:,} messages)", flush=True)
        purge()
        seeds = seed_sentences()
        load_messages(total, rng, seeds, embed(seeds), owner, other)
    queries = query_texts(QUERIES, random.Random(SEED))
    vectors = embed(queries)
    caller = caller_resolve(organization=organization, user=owner, api_key=None)
    model = common.local_embedding_model()
    report: dict = {"messages": total, "queries": len(queries), "modes": {}}
    for mode in ("vector", "keyword", "hybrid"):
        times = []
        for text, vector in zip(queries, vectors, strict=True):
            with mock.patch.object(
                search, "embed_query", lambda *a, v=vector, **k: (model, list(map(float, v)))
            ):
                seconds, page = common.timed(
                    lambda t=text, m=mode: search.history_search(
                        caller=caller,
                        query=search.HistoryQuery(query=t, mode=m),
                        organization=organization,
                    )
                )
            times.append(seconds)
            assert all(h.session_title for h in page.results)
        report["modes"][mode] = common.latency_summary(times[5:] if len(times) > 10 else times)
    baseline = []
    # The seed design takes seconds a query (minutes at 100k): fewer queries there.
    for vector in vectors[: BASELINE_QUERIES.get(label, 10)]:
        seconds, _ = common.timed(lambda v=vector: seed_design_search(owner, v))
        baseline.append(seconds)
    report["seed_design"] = common.latency_summary(baseline)
    speedup = report["seed_design"]["p50_ms"] / report["modes"]["vector"]["p50_ms"]
    report["speedup_vector_vs_seed_design"] = speedup
    report["speedup_hybrid_vs_seed_design"] = (
        report["seed_design"]["p50_ms"] / report["modes"]["hybrid"]["p50_ms"]
    )
    if label == "100k":
        report["verdict_speedup"] = common.verdict(speedup >= MIN_SEARCH_SPEEDUP)
    if label == "1m":
        report["verdict_hybrid_p50"] = common.verdict(
            report["modes"]["hybrid"]["p50_ms"] <= MAX_HYBRID_P50_MS_AT_1M
        )
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="600 messages imported, search at 10k")
    parser.add_argument("--sizes", nargs="+", choices=sorted(SIZES))
    parser.add_argument("--import-messages", type=int)
    parser.add_argument("--runs", type=int, default=2, help="import runs of each side")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--import-only", action="store_true")
    args = parser.parse_args()
    sizes = [] if args.import_only else args.sizes or (["10k"] if args.quick else ["100k"])
    messages = args.import_messages or (600 if args.quick else 2000)

    common.setup_django()
    from django_tenants.utils import schema_context

    from core.tenancy import current_organization

    common.benchmark_organization(ORG_SLUG, "Benchmark: conversations")
    report: dict = {"quick": args.quick}
    with schema_context(ORG_SLUG):
        organization = current_organization()
        bench_assistant()
        if not args.skip_import:
            if not args.import_only:
                purge()
            print(f"import: {messages:,} messages", flush=True)
            report["import"] = measure_import(organization, messages, args.runs)
            imp = report["import"]
            common.print_table(
                ["messages", "bare embedder msg/s", "platform msg/s", "ratio", "target", "verdict"],
                [
                    [
                        messages,
                        round(imp["bare_embedder_messages_per_s"], 1),
                        round(imp["platform_messages_per_s"], 1),
                        round(imp["ratio"], 3),
                        MIN_IMPORT_RATIO,
                        imp["verdict"],
                    ]
                ],
            )
        report["search"] = {}
        for label in sizes:
            result = measure_search(label, SIZES[label], organization, args.rebuild)
            report["search"][label] = result
            rows = [
                [label, mode, round(v["p50_ms"], 1), round(v["p95_ms"], 1)]
                for mode, v in result["modes"].items()
            ]
            rows.append(
                [
                    label,
                    "seed design (JSON + Python cosine)",
                    round(result["seed_design"]["p50_ms"], 1),
                    round(result["seed_design"]["p95_ms"], 1),
                ]
            )
            common.print_table(["size", "mode", "p50 ms", "p95 ms"], rows)
            print(
                f"{label}: vector {result['speedup_vector_vs_seed_design']:.1f}x, hybrid {result['speedup_hybrid_vs_seed_design']:.1f}x faster than the seed design"
            )
    common.write_results("conversations" + ("-import" if args.import_only else ""), report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Faults with real processes: the platform loses nothing and leaves nothing stuck.

Each test breaks the fault bed's platform the way an operator or a crash would (a
worker child or the whole worker ``kill -9``'d mid-ingestion, Redis stopped under a
running worker and web server, uvicorn stopped or killed with streams open,
PostgreSQL restarted) and asserts the end state: documents completed with exactly the
chunks of a clean run, answers in a final state whose totals add up, the ledger equal
to the messages, and the service back without restarting anything that still runs.
"""

import signal
import time
from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace

import pytest

from assistants.tests.providers.fake_server import Reply
from knowledge_base import extraction, ingestion
from knowledge_base.embedding_windows import embedding_window
from knowledge_base.models import DEFAULT_CHUNKING, DEFAULT_PARENT_SIZE
from tests.faults.harness import children_of, read_events, wait_for

pytestmark = pytest.mark.faults

WORDS = [
    "refund",
    "parcel",
    "invoice",
    "warehouse",
    "carrier",
    "voucher",
    "courier",
    "receipt",
    "ledger",
]


def _text(tag: str, paragraphs: int = 24) -> str:
    """A deterministic document of a few hundred chunks (long enough to be mid-way
    through embedding when the fault strikes)."""
    lines = [f"# Handbook {tag}"]
    for p in range(paragraphs):
        lines.append(f"\n## Section {p} {tag}\n")
        lines.append(" ".join(f"{WORDS[(p * 7 + i) % len(WORDS)]}{i % 13}" for i in range(180)))
    return "\n".join(lines)


def _clean_run_chunks(text: str) -> int:
    """The chunks a clean ingestion makes: the bed's collection (60 tokens, 10 overlap,
    the local embedder) bounded by the embedder's window, counted with its tokenizer."""
    extracted = extraction.extract(text.encode(), "text/markdown")
    local = _Model(provider="local", model_id="all-minilm-l6-v2", context_window=256)
    collection = SimpleNamespace(
        chunk_size=60,
        chunk_overlap=10,
        chunking=DEFAULT_CHUNKING,  # the bed's collection takes the default
        parent_size=DEFAULT_PARENT_SIZE,
        embedding_model=local,
    )
    return len(ingestion.chunk_for_collection(collection, extracted, embedding_window(local)))


@dataclass(frozen=True)
class _Model:
    provider: str
    model_id: str
    context_window: int


def _upload(bed, tag: str) -> tuple[str, str]:
    text = _text(tag)
    status, body = bed.request(
        "POST",
        f"/api/v1/collections/{bed.ids['collection']}/documents/text",
        {"title": f"Handbook {tag}", "text": text},
    )
    assert status == 201, body
    return body["results"][0]["document"]["id"], text


def _document(bed, document_id: str) -> dict:
    (row,) = bed.sql(
        "SELECT status, chunks_done, chunks_total, recovery_attempts, error "
        "FROM knowledge_base_document WHERE id = %s",
        [document_id],
    )
    return dict(zip(["status", "done", "total", "attempts", "error"], row, strict=True))


def _under_way(bed, document_id: str, done: int = 16):
    state = _document(bed, document_id)
    return state["status"] == "processing" and state["done"] >= done


def _assert_completed_exactly(bed, document_id: str, text: str) -> dict:
    state = wait_for(
        lambda: (s := _document(bed, document_id))["status"] in ("completed", "failed") and s,
        f"document {document_id} to finish",
        timeout=240,
    )
    assert state["status"] == "completed", state
    expected = _clean_run_chunks(text)
    ((count, distinct, low, high),) = bed.sql(
        "SELECT count(*), count(DISTINCT index), min(index), max(index) "
        "FROM knowledge_base_documentchunk WHERE document_id = %s",
        [document_id],
    )
    # exactly the chunks of a clean run: none missing, none twice
    assert (count, distinct, low, high, state["total"]) == (
        expected,
        expected,
        0,
        expected - 1,
        expected,
    )
    return state


def _assert_answers_final_and_totals_add_up(bed) -> None:
    assert bed.sql("SELECT count(*) FROM chat_message WHERE status = 'streaming'") == [(0,)]
    for session_id, count, tokens, cost in bed.sql(
        "SELECT id, message_count, total_tokens, total_cost FROM chat_chatsession"
    ):
        ((rows, row_tokens, row_cost),) = bed.sql(
            "SELECT count(*), coalesce(sum(total_tokens), 0), coalesce(sum(cost), 0) "
            "FROM chat_message WHERE session_id = %s",
            [session_id],
        )
        assert (count, tokens, cost) == (rows, row_tokens, row_cost), session_id
    ((ledger_tokens, ledger_cost),) = bed.sql(
        "SELECT coalesce(sum(total_tokens), 0), coalesce(sum(cost), 0) "
        "FROM public.billing_usagerecord WHERE organization_id = %s AND kind = 'chat'",
        [bed.ids["organization"]],
    )
    ((message_tokens, message_cost),) = bed.sql(
        "SELECT coalesce(sum(total_tokens), 0), coalesce(sum(cost), 0) FROM chat_message "
        "WHERE role = 'assistant'"
    )
    assert (ledger_tokens, Decimal(ledger_cost)) == (message_tokens, Decimal(message_cost))


def _api_answers(bed) -> bool:
    status, _ = bed.request("GET", f"/api/v1/collections/{bed.ids['collection']}/documents")
    return status == 200


# -- ingestion ------------------------------------------------------------------


def test_a_worker_child_killed_mid_ingestion_is_taken_over_at_once(platform):
    document_id, text = _upload(platform, "child")
    wait_for(lambda: _under_way(platform, document_id), "ingestion under way")
    worker = platform.pid("worker")

    # when: the pool process running the task is killed
    for child in children_of(worker):
        platform_kill(child)

    # then: Celery redelivers the task (same id, the lease's owner): it takes the
    # document over at once, without waiting for the lease to expire and the sweep
    state = _assert_completed_exactly(platform, document_id, text)
    assert state["attempts"] == 0
    assert platform.alive("worker") and platform.pid("worker") == worker


def test_the_whole_worker_killed_mid_ingestion_and_restarted_finishes_the_document(platform):
    document_id, text = _upload(platform, "worker")
    wait_for(lambda: _under_way(platform, document_id), "ingestion under way")

    # when: the worker (main process and pool) is killed, then started again
    platform.stop("worker", signal.SIGKILL)
    platform.start("worker")

    # then: its message waits for Redis's visibility timeout, but the lease nobody
    # renews expires and the sweep queues the document again: completed, exactly once
    state = _assert_completed_exactly(platform, document_id, text)
    assert state["attempts"] >= 1


def test_redis_stopped_under_a_running_worker_and_web_server(platform):
    document_id, text = _upload(platform, "redis")
    wait_for(lambda: _under_way(platform, document_id, done=8), "ingestion under way")
    worker, web = platform.pid("worker"), platform.pid("web")

    # when: Redis stops for 20 seconds, then comes back (with its data)
    platform.redis.stop()
    wait_for(lambda: not platform_port_open(platform.redis.port), "Redis to stop")
    time.sleep(20)
    platform.redis.start()

    # then: the same worker and web processes carry on: the document in flight is
    # finished (retried by the sweep if the outage broke its run), new work is consumed
    state = _assert_completed_exactly(platform, document_id, text)
    assert state["error"] == ""
    after_id, after_text = _upload(platform, "after-redis")
    _assert_completed_exactly(platform, after_id, after_text)
    assert wait_for(lambda: _api_answers(platform), "the API after the outage")
    assert platform.alive("worker") and platform.pid("worker") == worker
    assert platform.alive("web") and platform.pid("web") == web


def test_postgresql_restarted_under_the_running_platform(platform):
    worker, web = platform.pid("worker"), platform.pid("web")

    # when: PostgreSQL restarts
    platform.pg.stop(mode="fast")
    platform.pg.start()

    # then: the API and the worker use it again without being restarted
    assert wait_for(lambda: _api_answers(platform), "the API after the restart")
    document_id, text = _upload(platform, "after-postgres")
    _assert_completed_exactly(platform, document_id, text)
    assert platform.pid("worker") == worker and platform.pid("web") == web


# -- streaming answers --------------------------------------------------------------

ANSWER = " ".join(f"token{i}" for i in range(150))


def _open_answer(bed, provider, question: str):
    provider.enqueue(Reply(text=ANSWER, chunk_delay=0.1))
    response = bed.open_stream(
        {"assistant": bed.ids["assistant"], "message": question, "stream": True}
    )
    assert response.status == 200
    events = read_events(response, until=lambda ev: sum(n == "delta" for n, _ in ev) >= 5)
    message_id = next(data["message_id"] for name, data in events if name == "session")
    received = "".join(data["text"] for name, data in events if name == "delta")
    return response, message_id, received


def _message(bed, message_id: str) -> tuple[str, str]:
    ((status, content),) = bed.sql(
        "SELECT status, content FROM chat_message WHERE id = %s", [message_id]
    )
    return status, content


def test_uvicorn_stopped_with_a_stream_open_stores_it_cancelled(platform, provider):
    response, message_id, received = _open_answer(platform, provider, "Tell me everything")

    # when: the web server is stopped (SIGTERM: graceful, then open streams cancelled)
    platform.stop("web", signal.SIGTERM)
    read_events(response)  # the stream ends

    # then: the answer is final, with the text so far, and the totals add up
    status, content = _message(platform, message_id)
    assert status == "cancelled"
    assert content.startswith(received) and ANSWER.startswith(content)
    _assert_answers_final_and_totals_add_up(platform)
    platform.start("web")
    platform.wait_web_ready()
    status_code, body = platform.request("GET", "/api/v1/chat/sessions")
    assert status_code == 200, body


def test_uvicorn_killed_with_a_stream_open_leaves_an_answer_the_sweep_interrupts(
    platform, provider
):
    response, message_id, received = _open_answer(platform, provider, "And now crash")
    time.sleep(2.5)  # a heartbeat or two store the text so far

    # when: the web server dies (no chance to store anything)
    platform.stop("web", signal.SIGKILL)
    response.close()

    # then: the sweep (beat) finds the orphan once its heartbeat is stale, stores it
    # interrupted with the text of its last heartbeat, and the totals add up
    status, content = wait_for(
        lambda: (m := _message(platform, message_id))[0] != "streaming" and m,
        "the orphaned answer to be swept",
        timeout=120,
    )
    assert status == "interrupted"
    assert content.startswith(received) and ANSWER.startswith(content)
    _assert_answers_final_and_totals_add_up(platform)


def platform_kill(pid: int) -> None:
    import os

    os.kill(pid, signal.SIGKILL)


def platform_port_open(port: int) -> bool:
    from config.localservices import _port_open

    return _port_open(port)

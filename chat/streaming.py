"""Streaming a turn: provider events awaited on the event loop (the SDKs' async clients,
no thread per answer), database work before and after, events out as Server-Sent Events
(and, the same events, over WebSocket).

Event order: ``session``, ``delta``..., ``sources``, ``usage``, ``done``; or
``error`` instead of the last three when the provider fails. A client that goes
away mid-stream, or a server shutting down (uvicorn cancels open streams after its
graceful timeout), leaves the answer stored as ``cancelled`` with the text so far.
While it streams, the text so far is stored every ``CHAT_STREAM_HEARTBEAT_SECONDS``
(by the process's one heartbeat writer for all its streams, chat/heartbeats.py): that
heartbeat tells a live answer from one orphaned by a crash (chat/recovery.py). When it
ends, the answer is stored with the others that ended about then (the process's one
finishing writer, chat/finishing.py), and ``done`` is sent once that batch committed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from dataclasses import dataclass

from asgiref.sync import SyncToAsync
from django.conf import settings

from assistants import gateway
from assistants.providers.base import TextDelta
from assistants.providers.errors import ProviderError, as_domain_error
from chat import finishing, heartbeats, recovery, services
from chat.models import MessageStatus
from chat.turn import TurnPlan
from core import metrics
from core.connections import release_connection

logger = logging.getLogger(__name__)


@dataclass
class Event:
    name: str
    data: dict

    def sse(self) -> bytes:
        return f"event: {self.name}\ndata: {json.dumps(self.data, default=str)}\n\n".encode()


def session_event(turn: TurnPlan) -> Event:
    return Event(
        "session",
        {
            "session_id": str(turn.session.id),
            "title": turn.session.title,
            "user_message_id": str(turn.user_message.id),
            "message_id": str(turn.assistant_message.id),
            "answer_mode": turn.answer_mode,
        },
    )


def closing_events(message) -> list[Event]:
    return [
        Event("sources", {"sources": message.sources, "omitted": message.context_omitted}),
        Event(
            "usage",
            {
                "prompt_tokens": message.prompt_tokens,
                "completion_tokens": message.completion_tokens,
                "total_tokens": message.total_tokens,
                "cost": str(message.cost),
                "model": message.model,
                "provider": message.provider,
                "time_to_first_token_ms": message.time_to_first_token_ms,
                "latency_ms": message.latency_ms,
            },
        ),
        Event("done", {"message_id": str(message.id), "status": message.status}),
    ]


def release_request_thread() -> None:
    """Let the request's worker thread go while the answer streams.

    Django runs a request's synchronous parts (middleware, the DRF view that prepares
    the turn) in one thread per request (asgiref's ``ThreadSensitiveContext``) and keeps
    that thread until the whole response is sent: for an SSE answer, an idle thread per
    open stream for as long as it streams. Called once the response has started, when
    nothing needs that thread any more: it closes its database connection and ends. A
    later synchronous call of the same request (storing the answer, Django's
    ``response.close``) gets a fresh thread, which the context ends as usual. Outside a
    per-request context (tests, WebSocket consumers) there is nothing to release.

    This reads two class attributes of asgiref's ``SyncToAsync`` (stable since 3.3);
    ``chat/tests/test_async_view.py`` fails if they change.
    """
    current = getattr(SyncToAsync, "thread_sensitive_context", None)
    executors = getattr(SyncToAsync, "context_to_thread_executor", None)
    context = current.get(None) if current is not None else None
    if context is None or executors is None:
        return
    executor = executors.pop(context, None)
    if executor is not None:
        executor.submit(release_connection)
        executor.shutdown(wait=False)


async def provider_deltas(turn: TurnPlan, outcome: gateway.StreamOutcome) -> AsyncIterator[str]:
    """Text deltas from the provider, awaited on the event loop: a waiting answer holds
    no thread and no database connection. ``outcome`` learns the model, usage, cost."""
    async with aclosing(gateway.ai_chat_astream(plan=turn.stream, outcome=outcome)) as events:
        async for event in events:
            if isinstance(event, TextDelta) and event.text:
                yield event.text


def provider_deltas_sync(turn: TurnPlan, outcome: gateway.StreamOutcome) -> Iterator[str]:
    """The same deltas for a caller that waits anyway (``stream=false``)."""
    events = gateway.ai_chat_stream(plan=turn.stream, outcome=outcome)
    try:
        for event in events:
            if isinstance(event, TextDelta) and event.text:
                yield event.text
    finally:
        events.close()  # closes the SDK's HTTP stream when we stop early


async def _store(turn: TurnPlan, outcome, text: str, status: str, error: str, ttft_ms):
    """The answer stored with the others that ended about now (chat/finishing.py): returns
    its row once their transaction committed."""
    end = services.AnswerEnd(
        turn=turn, text=text, status=status, error=error, ttft_ms=ttft_ms, outcome=outcome
    )
    return await finishing.answer_finish(end)


# The tasks streaming an answer in this process, for a graceful shutdown to close.
OPEN_STREAMS: set[asyncio.Task] = set()


async def streams_cancel_open(*, timeout: float) -> int:
    """Cancel every answer still streaming in this process and wait (up to ``timeout``)
    until each has stored itself ``cancelled`` with its text so far; returns how many.

    Run at shutdown (the ASGI lifespan, config/asgi.py): uvicorn cancels the request
    it waited for, but Django leaves the task that streams the body running, and the
    process would exit with the answer still ``streaming``."""
    tasks = [task for task in OPEN_STREAMS if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=timeout)
    return len(tasks)


async def turn_events(turn: TurnPlan) -> AsyncIterator[Event]:
    """The events of one turn; stores the answer however the stream ends."""
    yield session_event(turn)
    outcome = turn.new_outcome()
    deltas = provider_deltas(turn, outcome)
    parts: list[str] = []
    ttft_ms = None
    finish = _store
    # Its lease: the process's one heartbeat writer stores ``parts`` every interval.
    beat = heartbeats.stream_open(
        schema_name=turn.organization.schema_name,
        message_id=turn.assistant_message.pk,
        parts=parts,
    )
    streaming_task = asyncio.current_task()
    OPEN_STREAMS.add(streaming_task)
    metrics.STREAMS_OPEN.inc()
    try:
        async for text in deltas:
            if ttft_ms is None:
                ttft_ms = int((time.perf_counter() - turn.started) * 1000)
            parts.append(text)
            yield Event("delta", {"text": text})
    except ProviderError as error:
        failure = as_domain_error(error)
        await finish(turn, outcome, "".join(parts), MessageStatus.ERROR, failure.message, ttft_ms)
        yield Event("error", {"code": failure.code, "message": failure.message})
        return
    except (asyncio.CancelledError, GeneratorExit):
        # The client went away, or the server is shutting down: stop the provider, keep
        # what was said so far. Closing runs in this task (the HTTP client's cleanup must
        # not move to another task); the write is shielded, so a second cancellation
        # cannot lose it.
        try:
            await deltas.aclose()
        except Exception:  # a provider connection already torn down: nothing to close
            logger.warning("closing the provider stream failed", exc_info=True)
        await asyncio.shield(
            _store(turn, outcome, "".join(parts), MessageStatus.CANCELLED, "", ttft_ms)
        )
        raise
    except Exception:
        logger.exception("chat stream failed")
        await finish(turn, outcome, "".join(parts), MessageStatus.ERROR, "Internal error.", ttft_ms)
        yield Event(
            "error", {"code": "server_error", "message": "Something went wrong on our side."}
        )
        return
    finally:
        heartbeats.stream_close(beat)
        OPEN_STREAMS.discard(streaming_task)
        metrics.STREAMS_OPEN.dec()
    try:
        message = await finish(turn, outcome, "".join(parts), MessageStatus.COMPLETE, "", ttft_ms)
    except Exception:
        # The answer could not be stored (database unreachable...): the client gets a final
        # event instead of a cut connection; the row stays ``streaming`` for the sweep.
        logger.exception("storing a finished answer failed")
        yield Event(
            "error", {"code": "server_error", "message": "Something went wrong on our side."}
        )
        return
    for event in closing_events(message):
        yield event


async def store_cancelled(turn: TurnPlan) -> None:
    """The client left before its answer started: store it ``cancelled``, empty."""
    await _store(turn, turn.new_outcome(), "", MessageStatus.CANCELLED, "", None)


async def sse_stream(turn: TurnPlan) -> AsyncIterator[bytes]:
    release_request_thread()
    async with aclosing(turn_events(turn)) as events:
        async for event in events:
            yield event.sse()


def run_turn_to_completion(turn: TurnPlan):
    """Non-streamed answer (``stream=false``): the same events, collected in the request's
    thread (a synchronous view waits for the whole answer anyway)."""
    parts, ttft_ms = [], None
    last_beat = time.monotonic()
    outcome = turn.new_outcome()
    try:
        for text in provider_deltas_sync(turn, outcome):
            if ttft_ms is None:
                ttft_ms = int((time.perf_counter() - turn.started) * 1000)
            parts.append(text)
            if time.monotonic() - last_beat >= settings.CHAT_STREAM_HEARTBEAT_SECONDS:
                recovery.answer_heartbeat(message_id=turn.assistant_message.pk, text="".join(parts))
                last_beat = time.monotonic()
    except ProviderError as error:
        services.chat_finish(
            turn=turn,
            outcome=outcome,
            text="".join(parts),
            status=MessageStatus.ERROR,
            error=error.user_message,
            ttft_ms=ttft_ms,
        )
        raise
    return services.chat_finish(
        turn=turn,
        outcome=outcome,
        text="".join(parts),
        status=MessageStatus.COMPLETE,
        ttft_ms=ttft_ms,
    )

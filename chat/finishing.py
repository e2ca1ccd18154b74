"""Answers whose streams ended, stored together by one writer per event loop.

Stored one by one, each finished answer took a thread and a pooled connection for a
transaction of eight statements, two Redis round trips and a Celery message, at most
``CHAT_FINISHING_MAX`` (8) at once: a worker holding 5,000 streams stored ~30 answers a
second while relaying the open streams' deltas, and the streams ending at 50 a second
waited for their ``done`` past the bench's deadline (docs/benchmarks.md, issue 21). As the
heartbeats do (chat/heartbeats.py, ADR 0058), one writer per event loop stores every
answer that ended since its last round: per organization schema one transaction of four
statements (``services.chat_finish_many``: rows locked, ledger rows, answers, sessions'
totals), one Redis round trip, one event delivery (one indexing task at most), whatever
the number of answers. Rounds are at least ``CHAT_FINISH_INTERVAL_SECONDS`` apart; the
first answer after a quiet moment is stored at once.

A stream hands over how it ended (``answer_finish``) and awaits its stored row: the
``done`` event is sent only after the batch holding the answer committed. A batch that
fails (a bad row, a deadlock, the database away) is stored again one answer at a time, so
one answer's failure is its own; nothing is stored twice (the batch rolled back, and a
row that is no longer ``streaming`` is never finished again). An answer whose batch never
committed (the process died) is still ``streaming`` and its heartbeat has stopped: the
recovery sweep stores it ``interrupted`` (chat/recovery.py).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import weakref
from collections import defaultdict
from dataclasses import dataclass

from asgiref.sync import SyncToAsync, sync_to_async
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django_tenants.utils import tenant_context

from chat import services
from chat.models import Message
from core.connections import release_connection

logger = logging.getLogger(__name__)

# Answers in one transaction at most (a round takes the rest in the next batch).
BATCH_MAX = 500


@dataclass(eq=False)
class _Waiting:
    end: services.AnswerEnd
    stored: asyncio.Future


def _store(ends: list[services.AnswerEnd]) -> list[Message | Exception]:
    """One transaction per organization schema; a failed one again answer by answer."""
    by_schema: dict[str, list[int]] = defaultdict(list)
    for index, end in enumerate(ends):
        by_schema[end.turn.organization.schema_name].append(index)
    results: list = [None] * len(ends)
    try:
        for indexes in by_schema.values():
            group = [ends[i] for i in indexes]
            for index, result in zip(indexes, _store_group(group), strict=True):
                results[index] = result
    finally:
        release_connection()  # back to the pool: between rounds the writer holds none
    return results


def _store_group(group: list[services.AnswerEnd]) -> list[Message | Exception]:
    try:
        with tenant_context(group[0].turn.organization):
            try:
                return services.chat_finish_many(ends=group)
            except Exception as error:
                if len(group) == 1 or _database_away(error):
                    return [error] * len(group)
                logger.warning(
                    "storing %s answers together failed; storing them one by one",
                    len(group),
                    exc_info=True,
                )
                return [_store_one(end) for end in group]
    except Exception as error:  # the schema could not even be entered
        return [error] * len(group)


def _database_away(error: Exception) -> bool:
    """No connection (or it broke): storing one by one would fail alike, N times over.
    Other errors (a bad row, a deadlock with another batch) are worth a retry each."""
    if not isinstance(error, OperationalError | InterfaceError):
        return False
    sqlstate = getattr(error.__cause__, "sqlstate", None)
    return sqlstate is None or sqlstate.startswith("08")


def _store_one(end: services.AnswerEnd) -> Message | Exception:
    try:
        return services.chat_finish_many(ends=[end])[0]
    except Exception as error:
        return error


class Finisher:
    """The answers of one event loop waiting to be stored, and the task that stores them."""

    def __init__(self) -> None:
        self.waiting: list[_Waiting] = []
        self.writer: asyncio.Task | None = None
        self.batches = 0  # transactions' rounds written (for tests and the bench)
        self.stored = 0

    async def finish(self, end: services.AnswerEnd) -> Message:
        loop = asyncio.get_running_loop()
        waiting = _Waiting(end, loop.create_future())
        self.waiting.append(waiting)
        if self.writer is None or self.writer.done():
            # As the heartbeat writer: a context of its own, without the request's
            # thread-sensitive context (it outlives the request that started it). Inside
            # ``async_to_sync`` (tests, synchronous callers) its writes run in the calling
            # thread, as the stream's own did.
            context = contextvars.copy_context()
            context.run(SyncToAsync.thread_sensitive_context.set, None)
            self.writer = loop.create_task(self._run(), context=context)
        # Shielded: a stream cancelled while it waits leaves its answer to be stored.
        return await asyncio.shield(waiting.stored)

    async def _run(self) -> None:
        store = sync_to_async(_store, thread_sensitive=True)
        batch: list[_Waiting] = []
        try:
            while self.waiting:
                batch, self.waiting = self.waiting[:BATCH_MAX], self.waiting[BATCH_MAX:]
                try:
                    results = await store([waiting.end for waiting in batch])
                except Exception as error:  # not the database's (``_store`` keeps those)
                    results = [error] * len(batch)
                for waiting, result in zip(batch, results, strict=True):
                    if waiting.stored.done():
                        continue
                    if isinstance(result, Exception):
                        waiting.stored.set_exception(result)
                    else:
                        waiting.stored.set_result(result)
                        self.stored += 1
                self.batches += 1
                batch = []
                # The next round takes what ended meanwhile: at most one per interval.
                await asyncio.sleep(settings.CHAT_FINISH_INTERVAL_SECONDS)
        except BaseException:
            # Cancelled (the event loop is closing): whatever was not stored stays
            # `streaming` for the sweep; no stream is left waiting for it.
            for waiting in [*batch, *self.waiting]:
                waiting.stored.cancel()
            self.waiting = []
            raise


_BY_LOOP: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def finisher() -> Finisher:
    """This event loop's finisher (a server has one loop; tests run several)."""
    loop = asyncio.get_running_loop()
    found = _BY_LOOP.get(loop)
    if found is None:
        found = _BY_LOOP[loop] = Finisher()
    return found


async def answer_finish(end: services.AnswerEnd) -> Message:
    """Store the answer with the others that ended about now; returns its stored row once
    its batch committed (raises what stopped it from being stored)."""
    return await finisher().finish(end)

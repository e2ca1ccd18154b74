"""The heartbeat of every answer streaming in this process, written together.

A streaming answer stores its text so far every ``CHAT_STREAM_HEARTBEAT_SECONDS``: that
lease tells a live stream from one orphaned by a crash (chat/recovery.py). Beaten per
stream, N open streams were N/interval writes per second, each in a thread of its own on
a pooled connection: 336 streams (34 writes/s) saturated the web server's 20 pooled
connections on the bench machine, and the requests being prepared queued behind the beats
(docs/benchmarks.md, "Chat, pooled connections"). Here one writer per event loop beats
every open stream of the process: each interval, one ``UPDATE ... FROM unnest(...)`` per
organization schema (``recovery.answers_heartbeat``) on one connection, whatever the
number of streams. The lease's meaning is unchanged: a live stream's row moves every
interval, an orphan's stops.

A stream registers when it starts (``stream_open``) and leaves when it ends however it
ends (``stream_close``); the writer stops when the last stream leaves.
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
from django_tenants.utils import schema_context

from chat import recovery
from core.connections import release_connection

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class OpenStream:
    schema_name: str
    message_id: object
    parts: list[str]  # the text so far, appended to by the stream


def _store(beats: dict[str, dict]) -> int:
    """One statement per schema (most processes serve a few organizations at a time)."""
    stored = 0
    try:
        for schema_name, texts in beats.items():
            with schema_context(schema_name):
                stored += recovery.answers_heartbeat(texts=texts)
    finally:
        release_connection()  # back to the pool: between beats the writer holds none
    return stored


class Heartbeats:
    """The open streams of one event loop and the one task that beats them."""

    def __init__(self) -> None:
        self.streams: set[OpenStream] = set()
        self.writer: asyncio.Task | None = None
        self.beats = 0  # statements' rounds written (for tests and the bench)

    def open(self, stream: OpenStream) -> None:
        self.streams.add(stream)
        if self.writer is None or self.writer.done():
            # A context of its own without the request's thread-sensitive context: the
            # writer outlives the request that started it, and its database work must not
            # run in (or bring back) that request's thread. Inside ``async_to_sync`` (tests,
            # synchronous callers) it runs in the calling thread, as the stream's own
            # writes do.
            context = contextvars.copy_context()
            context.run(SyncToAsync.thread_sensitive_context.set, None)
            self.writer = asyncio.get_running_loop().create_task(self._run(), context=context)

    def close(self, stream: OpenStream) -> None:
        self.streams.discard(stream)
        if not self.streams and self.writer is not None:
            self.writer.cancel()  # nothing left to beat; the next stream starts another
            self.writer = None

    def snapshot(self) -> dict[str, dict]:
        beats: dict[str, dict] = defaultdict(dict)
        for stream in self.streams:
            beats[stream.schema_name][stream.message_id] = "".join(stream.parts)
        return beats

    async def _run(self) -> None:
        store = sync_to_async(_store, thread_sensitive=True)
        while self.streams:
            await asyncio.sleep(settings.CHAT_STREAM_HEARTBEAT_SECONDS)
            beats = self.snapshot()
            if not beats:
                continue
            try:
                await store(beats)
                self.beats += 1
            except asyncio.CancelledError:
                raise
            except Exception:  # the database away for a moment: the next beat tries again
                logger.warning(
                    "heartbeat of %s streaming answers failed",
                    sum(len(texts) for texts in beats.values()),
                    exc_info=True,
                )


_BY_LOOP: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def heartbeats() -> Heartbeats:
    """This event loop's heartbeats (a server has one loop; tests run several)."""
    loop = asyncio.get_running_loop()
    found = _BY_LOOP.get(loop)
    if found is None:
        found = _BY_LOOP[loop] = Heartbeats()
    return found


def stream_open(*, schema_name: str, message_id, parts: list[str]) -> OpenStream:
    stream = OpenStream(schema_name=schema_name, message_id=message_id, parts=parts)
    heartbeats().open(stream)
    return stream


def stream_close(stream: OpenStream) -> None:
    heartbeats().close(stream)

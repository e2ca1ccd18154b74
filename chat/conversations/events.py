"""What the conversation features do when chat events happen."""

import threading
import time

from core.events import Event

INDEX_DELAY_SECONDS = 2  # answers finishing together share one indexing run
# A run queued this recently by this process will start after any answer stored now: it
# is INDEX_DELAY_SECONDS away at least, and this leaves half of that for clocks and queues.
INDEX_REUSE_SECONDS = INDEX_DELAY_SECONDS / 2

_queued_at: dict[str, float] = {}  # schema -> when this process last queued its run
_lock = threading.Lock()


def index_after_answers(batch: list[Event]) -> None:
    """Finished answers (and the questions before them) are indexed by a task, soon: one
    task per organization and commit, and none when this process queued one for that
    organization under ``INDEX_REUSE_SECONDS`` ago. That run starts ``INDEX_DELAY_SECONDS``
    after it was queued, so after these answers' commit, and indexes every message still
    pending (the sweep catches any it missed). A worker storing 50 answers a second sends
    about one indexing message a second, not 50."""
    if not any(event.type == "chat.message.completed" for event in batch):
        return
    from chat.conversations import queue

    schema = batch[0].schema_name
    now = time.monotonic()
    with _lock:
        last = _queued_at.get(schema)
    if last is not None and now - last < INDEX_REUSE_SECONDS:
        return
    queue.enqueue(queue.INDEX, countdown=INDEX_DELAY_SECONDS)
    with _lock:  # once sent: a broker that refused it leaves the next answer to try
        _queued_at[schema] = now

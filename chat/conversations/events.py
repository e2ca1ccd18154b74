"""What the conversation features do when chat events happen."""

from core.events import Event

INDEX_DELAY_SECONDS = 2  # answers finishing together share one indexing run


def index_after_answer(event: Event) -> None:
    """A finished answer (and the question before it) is indexed by a task, soon."""
    if event.type != "chat.message.completed":
        return
    from chat.conversations import queue

    queue.enqueue(queue.INDEX, countdown=INDEX_DELAY_SECONDS)

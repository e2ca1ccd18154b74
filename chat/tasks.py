"""Chat tasks: thin; the recovery logic lives in chat.recovery."""

from celery import shared_task

from chat.recovery import answers_recover_interrupted_everywhere


@shared_task(name="chat.answers_recover_interrupted", acks_late=True)
def answers_recover_interrupted_task() -> int:
    """Beat, every minute, and once when a worker starts: answers left `streaming` by a
    web process that died are stored `interrupted` with their text so far. Safe to run
    twice: each answer is taken under a row lock and leaves `streaming` at once."""
    return answers_recover_interrupted_everywhere()


# The conversation tasks (imports, indexing, analysis, the sweep) register with Celery
# from their own module.
from chat.conversations import tasks as conversation_tasks  # noqa: E402, F401

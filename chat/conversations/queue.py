"""Sending the conversation tasks by name (the services cannot import the tasks
module, which imports them). The Celery app adds the organization's schema to the
message headers (tenant-schemas-celery's ``send_task``), as ``delay`` would. Nobody
waits for these tasks' results: sent with ``ignore_result``, so the sender does not
subscribe to a result channel in Redis for each one (two more round trips per chat
answer) and the worker stores no result."""

from celery import current_app

IMPORT = "chat.conversation_import"
INDEX = "chat.messages_index"
ANALYZE = "chat.conversation_analyze"
ANALYZE_IMPORT = "chat.conversations_analyze_import"


def enqueue(name: str, *args, countdown: float | None = None) -> None:
    current_app.send_task(name, args=list(args), countdown=countdown, ignore_result=True)

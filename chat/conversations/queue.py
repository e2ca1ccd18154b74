"""Sending the conversation tasks by name (the services cannot import the tasks
module, which imports them). The Celery app adds the organization's schema to the
message headers (tenant-schemas-celery's ``send_task``), as ``delay`` would."""

from celery import current_app

IMPORT = "chat.conversation_import"
INDEX = "chat.messages_index"
ANALYZE = "chat.conversation_analyze"
ANALYZE_IMPORT = "chat.conversations_analyze_import"


def enqueue(name: str, *args, countdown: float | None = None) -> None:
    current_app.send_task(name, args=list(args), countdown=countdown)

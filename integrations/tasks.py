"""Celery finds tasks in ``<app>.tasks``: the integrations' tasks live in their packages."""

from integrations.gmail.beat import gmail_sync_due_task
from integrations.gmail.tasks import gmail_sync_task
from integrations.webhooks.tasks import webhook_deliver, webhooks_fan_out, webhooks_retry_due

__all__ = [
    "gmail_sync_due_task",
    "gmail_sync_task",
    "webhook_deliver",
    "webhooks_fan_out",
    "webhooks_retry_due",
]

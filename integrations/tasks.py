"""Celery finds tasks in ``<app>.tasks``: the integrations' tasks live in their packages."""

from integrations.webhooks.tasks import webhook_deliver, webhooks_fan_out, webhooks_retry_due

__all__ = ["webhook_deliver", "webhooks_fan_out", "webhooks_retry_due"]

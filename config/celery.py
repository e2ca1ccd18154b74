"""Celery with tenant-aware tasks.

tenant-schemas-celery records the schema a task was sent from and switches to
it in the worker. Tasks that work on an organization's content derive from
``core.tasks.TenantTask``, which refuses to run in the public schema (fail closed).
"""

import logging
import os

from celery.signals import worker_ready
from tenant_schemas_celery.app import CeleryApp as TenantAwareCeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

logger = logging.getLogger(__name__)

app = TenantAwareCeleryApp("platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# Sweeps that recover work left half-done by processes that died (beat repeats them).
RECOVERY_TASKS = (
    "chat.answers_recover_interrupted",
    "knowledge_base.documents_recover_stalled",
    "knowledge_base.evaluation_runs_recover_stalled",
    "knowledge_base.web_sources_refresh_due",
)


@worker_ready.connect
def recover_at_start(sender=None, **kwargs):
    """A worker that starts (often: after a crash) sweeps at once instead of waiting
    for beat's first run."""
    for name in RECOVERY_TASKS:
        try:
            app.send_task(name)
        except Exception:  # the broker away at start-up: beat sends them soon anyway
            logger.warning("could not queue %s at start-up", name, exc_info=True)

"""Celery with tenant-aware tasks.

tenant-schemas-celery records the schema a task was sent from and switches to
it in the worker. Tasks that work on an organization's content derive from
``core.tasks.TenantTask``, which refuses to run in the public schema (fail closed).
"""

import os

from tenant_schemas_celery.app import CeleryApp as TenantAwareCeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

app = TenantAwareCeleryApp("platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

"""Celery with tenant-aware tasks.

tenant-schemas-celery records the schema a task was sent from and switches to
it in the worker. Tasks that work on an organization's content derive from
``TenantTask``, which refuses to run in the public schema (fail closed).
"""

import os

from tenant_schemas_celery.app import CeleryApp as TenantAwareCeleryApp
from tenant_schemas_celery.task import TenantTask as BaseTenantTask

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

app = TenantAwareCeleryApp("platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class TenantTask(BaseTenantTask):
    """A task that must run inside an organization's schema."""

    abstract = True

    def __call__(self, *args, **kwargs):
        from config.tenancy import require_tenant_schema

        require_tenant_schema()
        return super().__call__(*args, **kwargs)

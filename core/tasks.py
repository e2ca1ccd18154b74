"""The base of tasks that work on an organization's content.

tenant-schemas-celery records the schema a task was sent from (in the message's
headers) and switches to it in the worker. ``TenantTask`` also refuses to run in
the public schema (fail closed). The Celery app itself is wiring: config/celery.py.
"""

from tenant_schemas_celery.task import TenantTask as BaseTenantTask

from core import metrics
from core.tenancy import require_tenant_schema

# Every worker imports this module (each app's tasks do): task latency and the metrics
# port are wired here, not in config/celery.py, which imports no app.
metrics.connect_celery_signals()


class TenantTask(BaseTenantTask):
    """A task that must run inside an organization's schema."""

    abstract = True

    def __call__(self, *args, **kwargs):
        require_tenant_schema()
        return super().__call__(*args, **kwargs)

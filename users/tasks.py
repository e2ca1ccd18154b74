"""Diagnostics of the task system (tasks are thin; see STYLE.md)."""

from celery import shared_task
from django.db import connection

from core.tasks import TenantTask


@shared_task(name="users.organization_schema_status", base=TenantTask, acks_late=True)
def organization_schema_status() -> dict:
    """Report which schema the worker runs this task in, and its migrations.

    Used by `manage.py check_worker` to prove a worker is up and tenant-aware;
    read-only, so a second delivery is harmless. Refuses to run in public.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM django_migrations")
        (applied,) = cursor.fetchone()
    return {"schema": connection.schema_name, "applied_migrations": applied}

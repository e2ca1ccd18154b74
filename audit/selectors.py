"""Reads of the audit log."""

from django.db.models import QuerySet

from audit.models import AuditEvent
from core.tenancy import require_tenant_schema


def audit_event_list(*, action: str = "", start=None, end=None) -> QuerySet[AuditEvent]:
    require_tenant_schema()
    events = AuditEvent.objects.all()
    if action:
        events = events.filter(action=action)
    if start:
        events = events.filter(created_at__date__gte=start)
    if end:
        events = events.filter(created_at__date__lte=end)
    return events

"""The bridge from platform events (core.events) to webhook deliveries.

Registered in ``IntegrationsConfig.ready``. It only queues a task, and only when the
organization has an endpoint for the event, so an event nobody listens to costs one
indexed query and no broker message (one query for all the events of a kind that one
commit emitted together).
"""

from __future__ import annotations

import logging

from core.events import Event
from integrations.webhooks import services

logger = logging.getLogger(__name__)


def webhooks_on_events(batch: list[Event]) -> None:
    """The events of one commit (one organization's): one check per event type, then one
    task per event that has an endpoint."""
    from integrations.webhooks.tasks import webhooks_fan_out

    listened: dict[str, bool] = {}
    for event in batch:
        if event.type not in listened:
            listened[event.type] = services.organization_has_subscribers(
                schema_name=event.schema_name, event_type=event.type
            )
        if listened[event.type]:
            webhooks_fan_out.delay(
                event.schema_name,
                event.id,
                event.type,
                event.occurred_at.isoformat(),
                event.payload,
            )

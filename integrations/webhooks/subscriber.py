"""The bridge from platform events (core.events) to webhook deliveries.

Registered in ``IntegrationsConfig.ready``. It only queues a task, and only when the
organization has an endpoint for the event, so an event nobody listens to costs one
indexed query and no broker message.
"""

from __future__ import annotations

import logging

from core.events import Event
from integrations.webhooks import services

logger = logging.getLogger(__name__)


def webhooks_on_event(event: Event) -> None:
    if not services.organization_has_subscribers(
        schema_name=event.schema_name, event_type=event.type
    ):
        return
    from integrations.webhooks.tasks import webhooks_fan_out

    webhooks_fan_out.delay(
        event.schema_name, event.id, event.type, event.occurred_at.isoformat(), event.payload
    )

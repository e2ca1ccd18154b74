"""Platform events that start workflows (subscribed in ``WorkflowsConfig.ready``)."""

from core.events import Event
from workflows import services
from workflows.definition import TRIGGER_EVENTS


def on_platform_event(event: Event) -> None:
    """Runs in the organization's schema after the emitting transaction committed; it
    only writes runs and queues them (an event id starts each workflow once)."""
    if event.type not in TRIGGER_EVENTS:
        return
    services.event_start_runs(event_type=event.type, event_id=event.id, payload=event.payload)

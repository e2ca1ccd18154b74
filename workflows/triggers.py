"""Platform events that start workflows (subscribed in ``WorkflowsConfig.ready``)."""

from collections import defaultdict

from core.events import Event
from workflows import services
from workflows.definition import TRIGGER_EVENTS


def on_platform_events(batch: list[Event]) -> None:
    """Runs in the organization's schema after the emitting transaction committed, with
    the events of that commit (many answers stored together are one batch); it only
    writes runs and queues them (an event id starts each workflow once)."""
    by_type: dict[str, list[Event]] = defaultdict(list)
    for event in batch:
        if event.type in TRIGGER_EVENTS:
            by_type[event.type].append(event)
    for event_type, events in by_type.items():
        services.event_start_runs(
            event_type=event_type, events=[(event.id, event.payload) for event in events]
        )

"""The events an endpoint may subscribe to, and the JSON schema of each one's ``data``.

The names and meanings come from ``core.events.CATALOGUE`` (the platform's events);
this module adds what a receiver needs: the shape of the payload. docs/webhooks.md
prints the same table, and a test keeps the two in step.

Every delivery's body is ``{"type": ..., "timestamp": ..., "data": {...}}`` (the
Standard Webhooks envelope).
"""

from __future__ import annotations

from core.events import CATALOGUE

UUID = {"type": "string", "format": "uuid"}
TEXT = {"type": "string"}
COUNT = {"type": "integer", "minimum": 0}
DECIMAL = {"type": "string", "description": "A decimal amount, as text (no rounding)."}


def _object(**properties) -> dict:
    return {
        "type": "object",
        "properties": properties,
        "required": sorted(properties),
    }


PAYLOAD_SCHEMAS: dict[str, dict] = {
    "document.completed": _object(document_id=UUID, collection_id=UUID, title=TEXT, chunks=COUNT),
    "document.failed": _object(document_id=UUID, collection_id=UUID, title=TEXT, error=TEXT),
    "chat.message.completed": _object(
        session_id=UUID,
        message_id=UUID,
        assistant_id=UUID,
        channel=TEXT,
        tokens=COUNT,
        cost=DECIMAL,
    ),
    "conversation.ended": _object(session_id=UUID),
    "conversation.imported": _object(
        import_id=UUID, source=TEXT, conversations=COUNT, messages=COUNT
    ),
    "conversation.analyzed": _object(session_id=UUID, analysis_id=UUID, version=COUNT),
    "workflow.run.finished": _object(workflow_id=UUID, run_id=UUID, status=TEXT),
    "usage.quota_reached": _object(
        quota=TEXT,
        limit={"type": "string", "description": "The plan's limit, as text."},
        used={"type": "string", "description": "What was used when the quota refused."},
        period_start={"type": "string", "format": "date-time"},
    ),
    "file.processed": _object(file_id=UUID, name=TEXT),
    # Sent by "Send test event" in the dashboard only: never by the platform on its own.
    "webhook.test": _object(endpoint_id=UUID, message=TEXT),
}

TEST_EVENT = "webhook.test"


def event_types() -> list[dict]:
    """[{type, description, schema}] of every subscribable event."""
    described = dict(CATALOGUE)
    described[TEST_EVENT] = "A test delivery sent from the dashboard (endpoint_id, message)."
    return [
        {
            "type": name,
            "description": described[name],
            "schema": PAYLOAD_SCHEMAS.get(name, {"type": "object"}),
        }
        for name in sorted(described)
    ]


def subscribable() -> set[str]:
    return set(CATALOGUE) | {TEST_EVENT}

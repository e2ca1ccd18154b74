"""Platform events: delivered after commit, in the organization's schema, never for
work that rolled back, and a failing subscriber stops nothing."""

import pytest
from django.db import connection, transaction
from django_tenants.utils import schema_context

from core import events
from tests.factories import add_text, process_pending


@pytest.fixture
def received():
    seen: list[tuple[events.Event, str]] = []

    def subscriber(event: events.Event) -> None:
        seen.append((event, connection.schema_name))

    events.subscribe(subscriber)
    yield seen
    events.unsubscribe(subscriber)


@pytest.mark.django_db
def test_a_completed_document_is_announced_after_commit_in_its_schema(
    org_a, collection, received, django_capture_on_commit_callbacks
):
    add_text(org_a, collection, "Handbook", "Refunds are paid within five days. " * 20)

    with django_capture_on_commit_callbacks(execute=True):
        process_pending(org_a)

    [(event, schema)] = [(e, s) for e, s in received if e.type == "document.completed"]
    assert schema == org_a.slug == event.schema_name
    assert event.payload["title"] == "Handbook" and event.payload["chunks"] >= 1


@pytest.mark.django_db
def test_work_that_rolled_back_announces_nothing(
    org_a, received, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), schema_context(org_a.slug):
        try:
            with transaction.atomic():
                events.event_emit(type="conversation.ended", payload={"session_id": "x"})
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass

    assert received == []


@pytest.mark.django_db
def test_a_failing_subscriber_does_not_stop_the_others(
    org_a, received, django_capture_on_commit_callbacks
):
    def broken(event):
        raise RuntimeError("subscriber bug")

    events.subscribe(broken)
    try:
        with django_capture_on_commit_callbacks(execute=True), schema_context(org_a.slug):
            events.event_emit(type="conversation.ended", payload={"session_id": "y"})
    finally:
        events.unsubscribe(broken)

    assert [e.payload for e, _ in received] == [{"session_id": "y"}]


def test_unknown_event_types_are_refused():
    with pytest.raises(ValueError, match="CATALOGUE"):
        events.event_emit(type="document.exploded", payload={})

"""Triggers: a schedule fires on time in the organization's schema (once per due
time), a signed webhook starts a run while a bad one or a replay changes nothing, and
platform events start the workflows that listen for them."""

import json
import time
import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection
from django_tenants.utils import schema_context
from freezegun import freeze_time

from core import crypto, events
from tests.helpers import assert_error
from workflows import services
from workflows.models import Trigger, Workflow, WorkflowRun
from workflows.tasks import workflows_tick_task
from workflows.tests.builders import published, transform


@pytest.mark.django_db
class TestSchedule:
    def test_fires_on_time_in_the_organizations_schema_and_once(self, org_a, org_b):
        with freeze_time("2026-11-29 12:00:00"), schema_context(org_a.slug):  # a Sunday
            workflow = published(
                org_a,
                [transform("a", "weekly about {{ input.topic }}")],
                # a scheduled run has no caller: its input is the fields' defaults
                input_schema=[{"name": "topic", "default": "refunds"}],
                triggers={"schedule": {"cron": "0 9 * * 1", "timezone": "Europe/Paris"}},
            )
            # Monday 09:00 in Paris is 08:00 UTC
            assert workflow.next_run_at == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
        with freeze_time("2026-11-30 07:59:00"):
            workflows_tick_task()
            with schema_context(org_a.slug):
                assert not WorkflowRun.objects.exists()
        with freeze_time("2026-11-30 08:00:30"):
            assert connection.schema_name == "public"
            workflows_tick_task()
            workflows_tick_task()  # a second sweep at the same time starts nothing more
            with schema_context(org_a.slug):
                run = WorkflowRun.objects.get()
                assert (run.trigger, run.trigger_ref) == (
                    Trigger.SCHEDULE,
                    "schedule:2026-11-30T08:00:00+00:00",
                )
                assert run.input == {"topic": "refunds"}
                assert Workflow.objects.get().next_run_at == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
            with schema_context(org_b.slug):
                assert not WorkflowRun.objects.exists()

    def test_bad_cron_or_zone_are_field_errors(self, tenant):
        with pytest.raises(Exception) as caught:
            published(
                tenant,
                [transform("a", "x")],
                triggers={"schedule": {"cron": "every monday", "timezone": "Mars/Olympus"}},
            )
        assert {"triggers.schedule.cron", "triggers.schedule.timezone"} <= set(caught.value.fields)


def _signed(workflow, body: dict, *, delivery=None, at=None, secret=None):
    raw = json.dumps(body).encode()
    delivery = delivery or f"msg_{uuid.uuid4().hex}"
    timestamp = str(int(at or time.time()))
    secret = secret or crypto.decrypt(workflow.webhook_secret_encrypted)
    return raw, {
        "HTTP_WEBHOOK_ID": delivery,
        "HTTP_WEBHOOK_TIMESTAMP": timestamp,
        "HTTP_WEBHOOK_SIGNATURE": services.webhook_signature(secret, delivery, timestamp, raw),
    }


@pytest.mark.django_db
class TestWebhook:
    @pytest.fixture
    def workflow(self, org_a):
        with schema_context(org_a.slug):
            return published(
                org_a,
                [transform("a", "{{ input.order }}")],
                triggers={"webhook": True},
                input_schema=[{"name": "order"}],
            )

    def _post(self, client_for, org, workflow, raw, headers):
        client = client_for(org)
        return client.post(
            f"/api/v1/workflows/{workflow.pk}/webhook",
            raw,
            content_type="application/json",
            **headers,
        )

    def test_a_signed_delivery_starts_a_run_and_a_replay_is_refused(
        self, org_a, client_for, workflow
    ):
        raw, headers = _signed(workflow, {"order": "A-1"})
        answer = self._post(client_for, org_a, workflow, raw, headers)
        assert answer.status_code == 202, answer.content
        with schema_context(org_a.slug):
            run = WorkflowRun.objects.get()
            assert (run.trigger, run.input) == (Trigger.WEBHOOK, {"order": "A-1"})
        assert_error(
            self._post(client_for, org_a, workflow, raw, headers), 409, "duplicate_trigger"
        )
        with schema_context(org_a.slug):
            assert WorkflowRun.objects.count() == 1

    @pytest.mark.parametrize("problem", ["secret", "old", "tampered", "unsigned"])
    def test_a_bad_delivery_is_refused_and_changes_nothing(
        self, org_a, client_for, workflow, problem
    ):
        raw, headers = _signed(
            workflow,
            {"order": "A-1"},
            secret="wrong-secret" if problem == "secret" else None,
            at=time.time() - 3600 if problem == "old" else None,
        )
        if problem == "tampered":
            raw = raw.replace(b"A-1", b"A-2")
        if problem == "unsigned":
            headers.pop("HTTP_WEBHOOK_SIGNATURE")
        assert_error(self._post(client_for, org_a, workflow, raw, headers), 401, "bad_signature")
        with schema_context(org_a.slug):
            assert not WorkflowRun.objects.exists()

    def test_unknown_workflow_or_other_host_is_404(self, org_a, org_b, client_for, workflow):
        raw, headers = _signed(workflow, {"order": "A-1"})
        assert_error(self._post(client_for, org_b, workflow, raw, headers), 404)
        workflow.pk = "nope"
        assert_error(self._post(client_for, org_a, workflow, raw, headers), 404)


@pytest.mark.django_db
def test_platform_events_start_listening_workflows(org_a, django_capture_on_commit_callbacks):
    with schema_context(org_a.slug):
        listening = published(
            org_a,
            [transform("a", "{{ input.event.title }}")],
            triggers={"events": ["document.completed"]},
        )
        published(org_a, [transform("a", "x")], name="Deaf")
        with django_capture_on_commit_callbacks(execute=True):
            event = events.event_emit(
                type="document.completed", payload={"document_id": "d1", "title": "Refunds"}
            )
        run = WorkflowRun.objects.get()
        assert run.workflow == listening
        assert run.input["event"]["title"] == "Refunds"
        assert run.trigger_ref == f"event:{event.id}"

"""Workflows through the API: roles, publish validation naming each step's field,
runs and step logs, cancel, re-run, approvals, secrets, audit, another organization."""

import pytest
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from tests.helpers import assert_error
from workflows import executor
from workflows.models import RunStatus, WorkflowRun

DRAFT = {
    "steps": [
        {"key": "greet", "type": "transform", "template": "Hello {{ input.name }}"},
        {"key": "ok", "type": "approval", "message": "Send {{ steps.greet.value }}?"},
        {"key": "done", "type": "transform", "template": "{{ steps.greet.value }}!"},
    ],
    "input_schema": [{"name": "name"}],
}


def _create(client, draft=None):
    return client.post(
        "/api/v1/workflows", {"name": "Greeter", "draft": draft or DRAFT}, format="json"
    )


@pytest.fixture
def workflow(org_a, client_for):
    member = client_for(org_a, "member")
    created = _create(member)
    assert created.status_code == 201, created.json()
    assert created.json()["webhook_secret"]
    published = member.post(f"/api/v1/workflows/{created.json()['id']}/publish", {}, format="json")
    assert published.status_code == 201, published.json()
    return created.json()


def _advance(org, run_id):
    with schema_context(org.slug):
        executor.run_advance(run_id=run_id, owner="test")


@pytest.mark.django_db
class TestWorkflows:
    def test_publish_names_every_problem(self, org_a, client_for):
        member = client_for(org_a, "member")
        draft = {
            "steps": [
                {"key": "a", "type": "transform", "template": "{{ steps.b.value }}"},
                {"key": "b", "type": "http_request", "method": "FETCH", "url": "ftp://x"},
                {"key": "b", "type": "teleport"},
                {"key": "c", "type": "condition", "expression": "1 +", "else_goto": "a"},
            ]
        }
        created = _create(member, draft).json()
        error = assert_error(
            member.post(f"/api/v1/workflows/{created['id']}/publish", {}, format="json"), 400
        )
        assert {
            "steps.0.template",
            "steps.1.method",
            "steps.1.url",
            "steps.2.key",
            "steps.2.type",
            "steps.3.expression",
            "steps.3.else_goto",
        } <= set(error["fields"])
        assert "not an earlier step" in error["fields"]["steps.0.template"][0]
        assert member.get(f"/api/v1/workflows/{created['id']}").json()["published_version"] is None

    def test_run_with_approval_then_step_logs(self, org_a, client_for, workflow):
        member = client_for(org_a, "member")
        started = member.post(
            f"/api/v1/workflows/{workflow['id']}/runs", {"input": {"name": "Ann"}}, format="json"
        )
        assert started.status_code == 201, started.json()
        run_id = started.json()["id"]
        assert started.json()["status"] == "queued" and started.json()["trigger"] == "manual"
        _advance(org_a, run_id)
        waiting = member.get(f"/api/v1/workflow-runs/{run_id}").json()
        assert waiting["status"] == "waiting_approval"
        assert waiting["steps"][1]["output"]["message"] == "Send Hello Ann?"
        assert_error(
            client_for(org_a, "viewer").post(
                f"/api/v1/workflow-runs/{run_id}/approve", {}, format="json"
            ),
            403,
        )
        approved = member.post(
            f"/api/v1/workflow-runs/{run_id}/approve", {"comment": "go"}, format="json"
        )
        assert approved.status_code == 200, approved.json()
        _advance(org_a, run_id)
        done = member.get(f"/api/v1/workflow-runs/{run_id}").json()
        assert done["status"] == "succeeded" and done["output"] == {"value": "Hello Ann!"}
        assert [s["status"] for s in done["steps"]] == ["succeeded"] * 3
        assert all(s["duration_ms"] is not None for s in done["steps"])
        assert_error(member.post(f"/api/v1/workflow-runs/{run_id}/approve", {}, format="json"), 409)
        with schema_context(org_a.slug):
            actions = set(AuditEvent.objects.values_list("action", flat=True))
        assert {"workflow.created", "workflow.published", "workflow.approval_decided"} <= actions

    def test_bad_input_is_a_field_error_and_starts_nothing(self, org_a, client_for, workflow):
        member = client_for(org_a, "member")
        error = assert_error(
            member.post(
                f"/api/v1/workflows/{workflow['id']}/runs", {"input": {"nom": "x"}}, format="json"
            ),
            400,
        )
        assert {"input.nom", "input.name"} <= set(error["fields"])
        with schema_context(org_a.slug):
            assert not WorkflowRun.objects.exists()

    def test_cancel_and_rerun(self, org_a, client_for, workflow):
        member = client_for(org_a, "member")
        run_id = member.post(
            f"/api/v1/workflows/{workflow['id']}/runs", {"input": {"name": "Bo"}}, format="json"
        ).json()["id"]
        _advance(org_a, run_id)
        cancelled = member.post(f"/api/v1/workflow-runs/{run_id}/cancel")
        assert cancelled.json()["status"] == "cancelled"
        again = member.post(f"/api/v1/workflow-runs/{run_id}/rerun")
        assert again.status_code == 201
        assert [s["status"] for s in again.json()["steps"]] == ["copied"]
        listed = member.get(
            f"/api/v1/workflow-runs?workflow={workflow['id']}&status=cancelled"
        ).json()
        assert [r["id"] for r in listed["results"]] == [run_id]

    def test_api_key_scopes(self, org_a, client_for, workflow):
        from tests.factories import api_key_for

        _, reader = api_key_for(org_a, "workflows:read")
        program = client_for(org_a, api_key=reader)
        assert program.get("/api/v1/workflows").status_code == 200
        assert_error(
            program.post(
                f"/api/v1/workflows/{workflow['id']}/runs", {"input": {"name": "x"}}, format="json"
            ),
            403,
        )
        _, writer = api_key_for(org_a, "workflows:write", "workflows:read")
        started = client_for(org_a, api_key=writer).post(
            f"/api/v1/workflows/{workflow['id']}/runs", {"input": {"name": "x"}}, format="json"
        )
        assert started.json()["trigger"] == "api"

    def test_secrets_are_admin_only_and_never_returned(self, org_a, client_for):
        admin, member = client_for(org_a, "admin"), client_for(org_a, "member")
        assert_error(
            member.post(
                "/api/v1/workflow-secrets",
                {"name": "TOKEN", "value": "abcdefgh1234"},
                format="json",
            ),
            403,
        )
        saved = admin.post(
            "/api/v1/workflow-secrets", {"name": "TOKEN", "value": "abcdefgh1234"}, format="json"
        )
        assert saved.status_code == 201 and saved.json()["last4"] == "1234"
        assert "abcdefgh" not in str(admin.get("/api/v1/workflow-secrets").content)

    def test_another_organization_gets_404(self, org_a, org_b, client_for, workflow):
        other = client_for(org_b, "admin")
        assert_error(other.get(f"/api/v1/workflows/{workflow['id']}"), 404)
        assert_error(other.post(f"/api/v1/workflows/{workflow['id']}/runs", {}, format="json"), 404)
        run_id = (
            client_for(org_a, "member")
            .post(
                f"/api/v1/workflows/{workflow['id']}/runs", {"input": {"name": "x"}}, format="json"
            )
            .json()["id"]
        )
        assert_error(other.get(f"/api/v1/workflow-runs/{run_id}"), 404)
        assert_error(other.post(f"/api/v1/workflow-runs/{run_id}/cancel"), 404)
        with schema_context(org_a.slug):
            assert WorkflowRun.objects.get().status == RunStatus.QUEUED

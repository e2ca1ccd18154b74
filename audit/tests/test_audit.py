"""The audit log: who changed keys, roles, assistants and credentials, when, from where."""

import pytest
from django_tenants.utils import schema_context

from audit.models import AuditAction, AuditEvent
from integrations.models import Scope
from tests.factories import api_key_for
from tests.helpers import assert_error
from users.models import Membership

pytestmark = pytest.mark.django_db

ADDRESS = {"REMOTE_ADDR": "192.0.2.44"}


def _events(org, **filters):
    with schema_context(org.slug):
        return list(AuditEvent.objects.filter(**filters).order_by("created_at"))


def test_assistant_lifecycle_is_audited_with_the_changes(org_a, client_for):
    member = client_for(org_a, "member")
    created = member.post(
        "/api/v1/assistants",
        {"name": "Support", "model": "local/extractive"},
        format="json",
        **ADDRESS,
    ).json()
    url = f"/api/v1/assistants/{created['id']}"
    member.patch(url, {"temperature": "0.9", "name": "Support desk"}, format="json", **ADDRESS)
    member.patch(url, {"name": "Support desk"}, format="json", **ADDRESS)  # no change: no row
    member.delete(url, **ADDRESS)

    events = _events(org_a, target_id=created["id"])
    assert [e.action for e in events] == [
        AuditAction.ASSISTANT_CREATED,
        AuditAction.ASSISTANT_UPDATED,
        AuditAction.ASSISTANT_DELETED,
    ]
    assert events[1].changes["name"] == ["Support", "Support desk"]
    assert set(events[1].changes) == {"name", "temperature"}
    assert {(e.actor_id, e.actor_email, e.ip_address) for e in events} == {
        (org_a.member.pk, org_a.member.email, "192.0.2.44")
    }
    assert events[0].changes["model"] == [None, "local/extractive"]


def test_a_refused_change_leaves_no_audit_row(org_a, client_for):
    member = client_for(org_a, "member")
    created = member.post(
        "/api/v1/assistants", {"name": "Support", "model": "local/extractive"}, format="json"
    ).json()

    bad = member.patch(f"/api/v1/assistants/{created['id']}", {"temperature": "9"}, format="json")

    assert_error(bad, 400)
    assert len(_events(org_a, action=AuditAction.ASSISTANT_UPDATED)) == 0


def test_credential_changes_are_audited_without_the_key(org_a, client_for):
    admin = client_for(org_a, "admin")
    created = admin.post(
        "/api/v1/credentials",
        {"provider": "openai", "api_key": "sk-secret-value-1111"},
        format="json",
    ).json()
    admin.patch(
        f"/api/v1/credentials/{created['id']}", {"api_key": "sk-secret-value-2222"}, format="json"
    )
    admin.delete(f"/api/v1/credentials/{created['id']}")

    events = _events(org_a, target_id=created["id"])
    assert [e.action for e in events] == [
        AuditAction.CREDENTIAL_CREATED,
        AuditAction.CREDENTIAL_UPDATED,
        AuditAction.CREDENTIAL_DELETED,
    ]
    assert events[1].changes == {"api_key": ["…1111", "…2222"]}
    assert all("sk-secret" not in str(e.changes) + e.target_label for e in events)


def test_member_role_change_is_audited(org_a, client_for):
    membership = Membership.objects.get(organization=org_a.organization, user=org_a.viewer)

    client_for(org_a, "admin").patch(
        f"/api/v1/members/{membership.pk}", {"role": "member"}, format="json", **ADDRESS
    )

    (event,) = _events(org_a, action=AuditAction.MEMBER_ROLE_CHANGED)
    assert event.changes == {"role": ["viewer", "member"]}
    assert event.actor_id == org_a.admin.pk and event.ip_address == "192.0.2.44"
    assert org_a.viewer.email in event.target_label


def test_changes_made_with_an_api_key_name_the_key(org_a, client_for):
    api_key, key = api_key_for(org_a, Scope.ASSISTANTS_WRITE, name="Terraform")

    client_for(org_a.host, api_key=key).post(
        "/api/v1/assistants", {"name": "Bot", "model": "local/extractive"}, format="json"
    )

    (event,) = _events(org_a, action=AuditAction.ASSISTANT_CREATED)
    assert event.actor_id is None
    assert event.api_key_id == api_key.pk and "Terraform" in event.api_key_label


def test_admins_list_the_log_newest_first_with_filters(org_a, client_for):
    admin = client_for(org_a, "admin")
    for name in ("One", "Two"):
        admin.post("/api/v1/assistants", {"name": name, "model": "local/extractive"}, format="json")
    api_key_for(org_a, Scope.USAGE_READ)

    everything = admin.get("/api/v1/audit-events").json()
    created = admin.get("/api/v1/audit-events", {"action": "assistant.created"}).json()

    assert everything["count"] == 3
    assert [e["target_label"] for e in created["results"]] == ["Two", "One"]
    assert created["results"][0]["actor"]["email"] == org_a.admin.email
    assert (
        "action" in assert_error(admin.get("/api/v1/audit-events", {"action": "x"}), 400)["fields"]
    )
    assert_error(client_for(org_a, "member").get("/api/v1/audit-events"), 403)

"""The audit log: who changed keys, roles, assistants and credentials, when, from where."""

import pytest
from django_tenants.utils import schema_context

from audit.models import AuditAction, AuditEvent
from integrations.models import Scope
from tests.factories import api_key_for
from tests.helpers import PASSWORD, assert_error
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


def test_collections_and_documents_are_audited_with_the_changes(org_a, client_for):
    member = client_for(org_a, "member")
    collection = member.post(
        "/api/v1/collections",
        {"name": "Policies", "chunk_size": 200, "chunk_overlap": 20},
        format="json",
        **ADDRESS,
    ).json()
    base = f"/api/v1/collections/{collection['id']}"
    member.patch(base, {"name": "HR policies"}, format="json", **ADDRESS)
    member.patch(base, {"name": "HR policies"}, format="json", **ADDRESS)  # no change: no row
    added = member.post(
        f"{base}/documents/text", {"title": "Leave", "text": "Ten days a year."}, **ADDRESS
    ).json()
    document_id = added["results"][0]["document"]["id"]
    member.post(f"{base}/documents/{document_id}/reprocess", **ADDRESS)
    member.delete(f"{base}/documents/{document_id}", **ADDRESS)
    member.delete(base, **ADDRESS)

    events = _events(org_a, target_id__in=[collection["id"], document_id])
    assert [(e.action, e.target_label) for e in events] == [
        (AuditAction.COLLECTION_CREATED, "Policies"),
        (AuditAction.COLLECTION_UPDATED, "HR policies"),
        (AuditAction.DOCUMENT_ADDED, "Leave"),
        (AuditAction.DOCUMENT_REPROCESSED, "Leave"),
        (AuditAction.DOCUMENT_DELETED, "Leave"),
        (AuditAction.COLLECTION_DELETED, "HR policies"),
    ]
    assert events[1].changes == {"name": ["Policies", "HR policies"]}
    assert events[2].changes["collection"] == [None, "HR policies"]
    assert events[3].changes == {"version": [1, 2]}
    assert {e.actor_email for e in events} == {org_a.member.email}
    assert {e.ip_address for e in events} == {"192.0.2.44"}


def test_a_refused_upload_leaves_no_audit_row(org_a, client_for):
    member = client_for(org_a, "member")
    collection = member.post("/api/v1/collections", {"name": "Empty"}, format="json").json()
    before = len(_events(org_a, action=AuditAction.DOCUMENT_ADDED))
    refused = member.post(
        f"/api/v1/collections/{collection['id']}/documents/text", {"title": "x", "text": "  "}
    )
    assert_error(refused, 400)
    assert len(_events(org_a, action=AuditAction.DOCUMENT_ADDED)) == before


def test_invitations_are_audited_from_sent_to_accepted_or_revoked(org_a, client_for):
    admin = client_for(org_a, "admin")
    sent = admin.post(
        "/api/v1/invitations", {"email": "new@example.com", "role": "member"}, **ADDRESS
    ).json()
    admin.delete(f"/api/v1/invitations/{sent['id']}", **ADDRESS)
    events = _events(org_a, target_id=sent["id"])
    assert [e.action for e in events] == [
        AuditAction.INVITATION_SENT,
        AuditAction.INVITATION_REVOKED,
    ]
    assert events[0].changes == {"email": [None, "new@example.com"], "role": [None, "member"]}
    assert events[0].actor_email == org_a.admin.email


def test_sign_ins_are_audited_on_the_organizations_host_failures_without_the_password(
    org_a, client_for
):
    from django.test import Client

    browser = Client(HTTP_HOST=org_a.host, **ADDRESS)
    browser.post("/accounts/login/", {"login": org_a.member.email, "password": "wrong-guess-1"})
    browser.post("/accounts/login/", {"login": "nobody@example.com", "password": "x-guess-2"})
    browser.post("/accounts/login/", {"login": org_a.member.email, "password": PASSWORD})
    assert browser.get("/api/v1/me").status_code == 200

    failed = _events(org_a, action=AuditAction.SIGN_IN_FAILED)[-2:]
    assert [e.target_label for e in failed] == [org_a.member.email, "nobody@example.com"]
    assert all(e.ip_address == "192.0.2.44" and e.actor is None for e in failed)
    assert "guess" not in str([e.changes for e in failed])
    [succeeded] = _events(org_a, action=AuditAction.SIGN_IN_SUCCEEDED, actor=org_a.member)[-1:]
    assert succeeded.target_label == str(org_a.member)
    # admins read them in the log
    listed = client_for(org_a, "admin").get("/api/v1/audit-events", {"action": "sign_in.failed"})
    assert listed.json()["count"] >= 2


def test_two_factor_turned_on_and_off_is_audited_in_the_members_organizations(
    org_a, django_capture_on_commit_callbacks
):
    from allauth.mfa.totp.internal.auth import (
        format_hotp_value,
        hotp_value,
        yield_hotp_counters_from_time,
    )
    from django.test import Client

    browser = Client(HTTP_HOST=org_a.host, **ADDRESS)
    browser.post("/accounts/login/", {"login": org_a.viewer.email, "password": PASSWORD})
    base = "/_allauth/browser/v1/account/authenticators/totp"
    secret = browser.get(base).json()["meta"]["secret"]
    # as the security page does: the password again before changing the second factor
    browser.post(
        "/_allauth/browser/v1/auth/reauthenticate",
        {"password": PASSWORD},
        content_type="application/json",
    )
    code = format_hotp_value(hotp_value(secret, next(iter(yield_hotp_counters_from_time()))))
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            browser.post(base, {"code": code}, content_type="application/json").status_code == 200
        )
    with django_capture_on_commit_callbacks(execute=True):
        assert browser.delete(base).status_code == 200

    events = [
        e
        for e in _events(org_a, target_id=str(org_a.viewer.pk))
        if e.action.startswith("two_factor")
    ]
    assert [e.action for e in events] == [
        AuditAction.TWO_FACTOR_ENABLED,
        AuditAction.TWO_FACTOR_DISABLED,
    ]
    assert events[0].changes == {"authenticator app": [False, True]}
    assert events[1].changes == {"authenticator app": [True, False]}
    assert events[0].actor_email == org_a.viewer.email

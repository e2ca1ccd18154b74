"""API keys: lifecycle, hash-only storage, routing by key, scopes, restrictions."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from audit.models import AuditAction, AuditEvent
from billing.models import UsageRecord
from chat.models import ChatSession
from integrations.models import APIKey, Scope
from tests.factories import api_key_for, make_assistant
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

PLATFORM_HOST = "localhost"


class TestLifecycle:
    def test_admin_creates_a_key_whose_secret_is_shown_once(self, org_a, client_for):
        admin = client_for(org_a, "admin")

        created = admin.post(
            "/api/v1/api-keys",
            {"name": "CI pipeline", "scopes": ["chat:write", "sessions:read"]},
            format="json",
        )

        assert created.status_code == 201, created.content
        body = created.json()
        assert body["key"].startswith(body["prefix"] + "_")
        assert body["scopes"] == ["chat:write", "sessions:read"]
        assert body["is_active"] is True
        assert body["created_by"]["email"] == org_a.admin.email
        # never again: neither in the list nor in the detail
        listed = admin.get("/api/v1/api-keys").json()["results"]
        assert [k["id"] for k in listed] == [body["id"]]
        assert "key" not in listed[0]
        detail = admin.get(f"/api/v1/api-keys/{body['id']}").json()
        assert "key" not in detail and body["key"] not in str(detail)

    def test_only_the_hash_is_stored(self, org_a):
        api_key, key = api_key_for(org_a, Scope.KNOWLEDGE_READ)

        row = APIKey.objects.filter(pk=api_key.pk).values().get()
        secret = key.split("_", 2)[2]
        assert all(secret not in str(value) for value in row.values())
        assert row["secret_hash"] != key and len(row["secret_hash"]) == 64
        assert key.startswith(row["prefix"])

    def test_the_key_works_on_its_organizations_host_and_on_the_platform_host(
        self, org_a, client_for
    ):
        _, key = api_key_for(org_a, Scope.ASSISTANTS_READ)

        for host in (org_a.host, PLATFORM_HOST):
            response = client_for(host, api_key=key).get("/api/v1/assistants")
            assert response.status_code == 200, (host, response.content)

    def test_revoked_key_is_refused_at_once(self, org_a, client_for):
        api_key, key = api_key_for(org_a, Scope.ASSISTANTS_READ)
        program = client_for(org_a.host, api_key=key)
        assert program.get("/api/v1/assistants").status_code == 200

        revoked = client_for(org_a, "admin").post(f"/api/v1/api-keys/{api_key.pk}/revoke")

        assert revoked.status_code == 200
        assert revoked.json()["is_active"] is False and revoked.json()["revoked_at"]
        for host in (org_a.host, PLATFORM_HOST):
            response = client_for(host, api_key=key).get("/api/v1/assistants")
            assert_error(response, 401, "authentication_failed")
            assert response["WWW-Authenticate"].startswith("Bearer")

    def test_expired_key_is_refused(self, org_a, client_for):
        api_key, key = api_key_for(org_a, Scope.ASSISTANTS_READ)
        APIKey.objects.filter(pk=api_key.pk).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )

        assert_error(client_for(org_a.host, api_key=key).get("/api/v1/assistants"), 401)

    def test_a_wrong_secret_with_a_real_prefix_is_refused(self, org_a, client_for):
        _, key = api_key_for(org_a, Scope.ASSISTANTS_READ)
        forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")

        assert_error(client_for(org_a.host, api_key=forged).get("/api/v1/assistants"), 401)
        assert_error(client_for(PLATFORM_HOST, api_key=forged).get("/api/v1/assistants"), 401)

    def test_expiry_in_the_past_and_unknown_scopes_are_field_errors(self, org_a, client_for):
        admin = client_for(org_a, "admin")
        past = (timezone.now() - timedelta(days=1)).isoformat()

        bad = admin.post(
            "/api/v1/api-keys",
            {"name": "x", "scopes": ["chat:write"], "expires_at": past},
            format="json",
        )
        unknown = admin.post("/api/v1/api-keys", {"name": "x", "scopes": ["root"]}, format="json")
        empty = admin.post("/api/v1/api-keys", {"name": "x", "scopes": []}, format="json")

        assert "expires_at" in assert_error(bad, 400, "invalid")["fields"]
        assert "scopes[0]" in assert_error(unknown, 400)["fields"] or "scopes" in str(
            unknown.json()
        )
        assert "scopes" in assert_error(empty, 400)["fields"]
        assert not APIKey.objects.filter(organization=org_a.organization).exists()

    @pytest.mark.parametrize("role", ["member", "viewer"])
    def test_only_admins_manage_keys(self, org_a, client_for, role):
        client = client_for(org_a, role)

        assert_error(client.get("/api/v1/api-keys"), 403)
        assert_error(
            client.post("/api/v1/api-keys", {"name": "x", "scopes": ["admin"]}, format="json"), 403
        )

    def test_last_use_time_and_address_are_recorded(self, org_a, client_for):
        api_key, key = api_key_for(org_a, Scope.ASSISTANTS_READ)

        client_for(org_a.host, api_key=key).get("/api/v1/assistants", REMOTE_ADDR="203.0.113.9")

        api_key.refresh_from_db()
        assert api_key.last_used_ip == "203.0.113.9"
        assert timezone.now() - api_key.last_used_at < timedelta(seconds=30)

    def test_creation_and_revocation_are_audited_with_actor_and_address(self, org_a, client_for):
        admin = client_for(org_a, "admin")
        created = admin.post(
            "/api/v1/api-keys",
            {"name": "Audited", "scopes": ["usage:read"]},
            format="json",
            REMOTE_ADDR="198.51.100.7",
        ).json()
        admin.post(f"/api/v1/api-keys/{created['id']}/revoke", REMOTE_ADDR="198.51.100.7")

        with schema_context(org_a.slug):
            events = list(AuditEvent.objects.filter(target_id=created["id"]).order_by("created_at"))
        assert [e.action for e in events] == [
            AuditAction.API_KEY_CREATED,
            AuditAction.API_KEY_REVOKED,
        ]
        assert {e.actor_id for e in events} == {org_a.admin.pk}
        assert {e.ip_address for e in events} == {"198.51.100.7"}
        assert events[0].changes["scopes"] == ["usage:read"]


class TestScopes:
    def test_a_read_scope_does_not_allow_writes(self, org_a, client_for):
        _, key = api_key_for(org_a, Scope.ASSISTANTS_READ)
        program = client_for(org_a.host, api_key=key)

        response = program.post("/api/v1/assistants", {"name": "x"}, format="json")

        error = assert_error(response, 403, "permission_denied")
        assert "assistants:write" in error["message"]

    @pytest.mark.parametrize(
        ("scope", "method", "path", "allowed"),
        [
            (Scope.CHAT_WRITE, "get", "/api/v1/chat/sessions", False),
            (Scope.SESSIONS_READ, "get", "/api/v1/chat/sessions", True),
            (Scope.KNOWLEDGE_READ, "get", "/api/v1/collections", True),
            (Scope.KNOWLEDGE_READ, "post", "/api/v1/collections", False),
            (Scope.USAGE_READ, "get", "/api/v1/usage", True),
            (Scope.USAGE_READ, "get", "/api/v1/members", False),
            (Scope.KNOWLEDGE_WRITE, "get", "/api/v1/audit-events", False),
            (Scope.ADMIN, "get", "/api/v1/audit-events", True),
            (Scope.ADMIN, "get", "/api/v1/credentials", True),
        ],
    )
    def test_each_endpoint_needs_its_scope(self, org_a, client_for, scope, method, path, allowed):
        _, key = api_key_for(org_a, scope)

        response = getattr(client_for(org_a.host, api_key=key), method)(path, {}, format="json")

        if allowed:
            assert response.status_code in (200, 201, 400), response.content
        else:
            assert_error(response, 403)

    def test_endpoints_about_a_person_refuse_keys(self, org_a, client_for):
        _, key = api_key_for(org_a, Scope.ADMIN)

        assert_error(client_for(org_a.host, api_key=key).get("/api/v1/me"), 403)

    def test_a_session_user_is_not_limited_by_scopes(self, org_a, client_for):
        assert client_for(org_a, "admin").get("/api/v1/audit-events").status_code == 200


class TestRestrictedToAssistants:
    def test_key_sees_and_chats_with_its_assistants_only(self, org_a, client_for):
        allowed = make_assistant(org_a, with_knowledge=False)
        other = make_assistant(org_a, with_knowledge=False)
        _, key = api_key_for(
            org_a, Scope.ASSISTANTS_READ, Scope.CHAT_WRITE, assistant_ids=[allowed.pk]
        )
        program = client_for(org_a.host, api_key=key)

        listed = program.get("/api/v1/assistants").json()["results"]
        hidden = program.get(f"/api/v1/assistants/{other.pk}")
        refused = program.post(
            "/api/v1/chat", {"assistant": str(other.pk), "message": "hi", "stream": False}
        )
        answered = program.post(
            "/api/v1/chat", {"assistant": str(allowed.pk), "message": "hi", "stream": False}
        )

        assert [a["id"] for a in listed] == [str(allowed.pk)]
        assert_error(hidden, 404)
        assert "assistant" in assert_error(refused, 400)["fields"]
        assert answered.status_code == 200, answered.content

    def test_unknown_assistant_ids_are_refused_at_creation(self, org_a, client_for):
        response = client_for(org_a, "admin").post(
            "/api/v1/api-keys",
            {
                "name": "x",
                "scopes": ["chat:write"],
                "assistants": ["00000000-0000-0000-0000-000000000001"],
            },
            format="json",
        )

        assert "assistants" in assert_error(response, 400)["fields"]


class TestAProgramWithAKey:
    """Done-when: a program with a scoped key chats, lists sessions and uploads
    knowledge to its own organization, reaching it through the platform's host."""

    def test_chats_lists_sessions_and_uploads_knowledge(self, org_a, client_for):
        assistant = make_assistant(org_a)
        api_key, key = api_key_for(
            org_a, Scope.CHAT_WRITE, Scope.SESSIONS_READ, Scope.KNOWLEDGE_WRITE
        )
        program = client_for(PLATFORM_HOST, api_key=key)

        answer = program.post(
            "/api/v1/chat",
            {
                "assistant": str(assistant.pk),
                "message": "How long do refunds take?",
                "stream": False,
            },
        )
        sessions = program.get("/api/v1/chat/sessions")
        with schema_context(org_a.slug):
            collection_id = assistant.collections.get().pk
        upload = program.post(
            f"/api/v1/collections/{collection_id}/documents/text",
            {"title": "Returns", "text": "Returns are free within 30 days."},
        )

        assert answer.status_code == 200, answer.content
        session_id = answer.json()["session_id"]
        assert [s["id"] for s in sessions.json()["results"]] == [session_id]
        assert upload.status_code == 201, upload.content
        with schema_context(org_a.slug):
            session = ChatSession.objects.get(pk=session_id)
            assert session.channel == "api" and session.created_by_id is None
        ledger = UsageRecord.objects.filter(organization=org_a.organization, kind="chat")
        assert ledger.exists() and set(ledger.values_list("api_key", flat=True)) == {api_key.pk}
        assert set(ledger.values_list("channel", flat=True)) == {"api"}


class TestKeyCache:
    """Verified keys are kept per process (integrations/api_key_cache.py)."""

    def test_a_known_key_is_not_read_from_the_database_again(self, org_a, client_for):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        _, key = api_key_for(org_a, Scope.ASSISTANTS_READ)
        program = client_for(org_a.host, api_key=key)
        assert program.get("/api/v1/assistants").status_code == 200

        with CaptureQueriesContext(connection) as statements:
            assert program.get("/api/v1/assistants").status_code == 200

        assert not [s for s in statements.captured_queries if "integrations_apikey" in s["sql"]]

    def test_a_key_revoked_by_another_process_is_refused_at_once(self, org_a, client_for):
        from django.core.cache import caches

        from integrations import api_key_cache

        # given: this process has verified the key
        api_key, key = api_key_for(org_a, Scope.ASSISTANTS_READ)
        for host in (org_a.host, PLATFORM_HOST):
            assert client_for(host, api_key=key).get("/api/v1/assistants").status_code == 200
        # when: another process revokes it (its row, then a new generation token)
        APIKey.objects.filter(pk=api_key.pk).update(revoked_at=timezone.now())
        caches["shared"].set(api_key_cache.GENERATION_KEY, "another-process", timeout=None)
        # then
        for host in (org_a.host, PLATFORM_HOST):
            assert_error(client_for(host, api_key=key).get("/api/v1/assistants"), 401)

    def test_revoking_in_this_process_refuses_the_key_before_the_commit_too(
        self, org_a, client_for
    ):
        # The test's transaction never commits: this process must not wait for it.
        api_key, key = api_key_for(org_a, Scope.ASSISTANTS_READ)
        program = client_for(org_a.host, api_key=key)
        assert program.get("/api/v1/assistants").status_code == 200

        client_for(org_a, "admin").post(f"/api/v1/api-keys/{api_key.pk}/revoke")

        assert_error(program.get("/api/v1/assistants"), 401)

    def test_a_revocation_replaces_the_generation_once_committed(
        self, org_a, client_for, django_capture_on_commit_callbacks
    ):
        from django.core.cache import caches

        from integrations import api_key_cache

        api_key, _ = api_key_for(org_a, Scope.ASSISTANTS_READ)
        before = caches["shared"].get(api_key_cache.GENERATION_KEY)

        with django_capture_on_commit_callbacks(execute=True):
            client_for(org_a, "admin").post(f"/api/v1/api-keys/{api_key.pk}/revoke")

        after = caches["shared"].get(api_key_cache.GENERATION_KEY)
        assert after is not None and after != before

    def test_each_request_gets_its_own_copy_of_the_kept_key(self, org_a):
        from django.core.cache import caches

        from integrations import api_key_cache
        from integrations.services import api_key_verify

        _, key = api_key_for(org_a, Scope.ASSISTANTS_READ)
        generation = "g1"
        caches["shared"].set(api_key_cache.GENERATION_KEY, generation, timeout=None)
        first = api_key_verify(key, generation=generation)
        first.scopes.append(Scope.ADMIN)
        first.organization.plan = "changed"

        second = api_key_verify(key, generation=generation)

        assert second is not first and second.scopes == [Scope.ASSISTANTS_READ]
        assert second.organization.plan != "changed"

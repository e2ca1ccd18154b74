"""Rerankers (ADR 0100): configured like provider credentials (admins only, key
encrypted at rest and never returned, base URL checked by the outbound policy), and
chosen per assistant with a candidate depth."""

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from tests.helpers import GOOD_KEY, assert_error


def _body(provider_server, **fields):
    return {
        "name": "Cross-encoder",
        "api_format": "cohere",
        "base_url": f"{provider_server.url}/v1",
        "model": "rerank-v3.5",
        "api_key": GOOD_KEY,
        **fields,
    }


@pytest.fixture
def created(org_a, client_for, provider_server):
    response = client_for(org_a, "admin").post(
        "/api/v1/rerankers", _body(provider_server), format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()


@pytest.mark.django_db
class TestRerankers:
    def test_key_is_encrypted_and_never_returned(self, org_a, client_for, created):
        admin = client_for(org_a, "admin")

        assert created["api_key_hint"] == f"…{GOOD_KEY[-4:]}" and "api_key" not in created
        assert GOOD_KEY not in admin.get("/api/v1/rerankers").content.decode()
        assert GOOD_KEY not in admin.get(f"/api/v1/rerankers/{created['id']}").content.decode()
        with schema_context(org_a.slug), connection.cursor() as cursor:
            cursor.execute(
                "SELECT api_key_encrypted FROM assistants_reranker WHERE id = %s", [created["id"]]
            )
            stored = cursor.fetchone()[0]
            events = AuditEvent.objects.filter(target_type="reranker", target_id=created["id"])
            assert GOOD_KEY not in str(list(events.values_list("changes", flat=True)))
        assert stored and GOOD_KEY not in stored

    def test_update_and_delete(self, org_a, client_for, created):
        admin = client_for(org_a, "admin")
        url = f"/api/v1/rerankers/{created['id']}"

        changed = admin.patch(url, {"api_format": "tei", "api_key": "tei-key-98765"}, format="json")

        assert changed.status_code == 200, changed.json()
        assert changed.json()["api_format"] == "tei" and changed.json()["api_key_hint"] == "…8765"
        assert admin.delete(url).status_code == 204
        assert_error(admin.get(url), 404)

    @pytest.mark.parametrize("role", ["member", "viewer"])
    def test_only_admins_manage_rerankers(self, org_a, client_for, provider_server, role):
        client = client_for(org_a, role)

        assert_error(client.get("/api/v1/rerankers"), 403)
        assert_error(client.post("/api/v1/rerankers", _body(provider_server), format="json"), 403)

    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"base_url": "ftp://rerank.example.com"}, "base_url"),
            ({"base_url": "http://user:pw@rerank.example.com"}, "base_url"),
            ({"api_format": "morse"}, "api_format"),
            ({"model": ""}, "model"),  # a Cohere-style server needs the model
            ({"name": ""}, "name"),
        ],
    )
    def test_invalid_input_is_a_field_error(
        self, org_a, client_for, provider_server, fields, field
    ):
        response = client_for(org_a, "admin").post(
            "/api/v1/rerankers", _body(provider_server, **fields), format="json"
        )

        assert field in assert_error(response, 400)["fields"]

    def test_a_private_address_is_refused_unless_the_operator_allows_it(
        self, org_a, client_for, provider_server, settings
    ):
        settings.OUTBOUND_ALLOWED_NETWORKS = []

        response = client_for(org_a, "admin").post(
            "/api/v1/rerankers", _body(provider_server), format="json"
        )

        assert "base_url" in assert_error(response, 400)["fields"]

    def test_names_are_unique(self, org_a, client_for, provider_server, created):
        response = client_for(org_a, "admin").post(
            "/api/v1/rerankers", _body(provider_server), format="json"
        )

        assert "name" in assert_error(response, 400)["fields"]

    def test_another_organization_gets_404(self, org_b, client_for, created):
        other = client_for(org_b, "admin")

        assert_error(other.get(f"/api/v1/rerankers/{created['id']}"), 404)
        assert_error(other.delete(f"/api/v1/rerankers/{created['id']}"), 404)
        assert other.get("/api/v1/rerankers").json()["results"] == []


@pytest.mark.django_db
class TestAssistantSetting:
    def _assistant(self, client):
        response = client.post(
            "/api/v1/assistants", {"name": "Reranked", "model": "local/extractive"}, format="json"
        )
        assert response.status_code == 201, response.json()
        return response.json()

    def test_an_assistant_chooses_a_reranker_and_its_depth(self, org_a, client_for, created):
        admin = client_for(org_a, "admin")
        assistant = self._assistant(admin)
        assert assistant["reranker"] is None and assistant["rerank_candidates"] == 30

        response = admin.patch(
            f"/api/v1/assistants/{assistant['id']}",
            {"reranker": created["id"], "rerank_candidates": 50},
            format="json",
        )

        assert response.status_code == 200, response.json()
        assert response.json()["reranker"] == created["id"]
        assert response.json()["rerank_candidates"] == 50
        # Deleting the reranker turns reranking off for the assistant.
        admin.delete(f"/api/v1/rerankers/{created['id']}")
        assert admin.get(f"/api/v1/assistants/{assistant['id']}").json()["reranker"] is None

    @pytest.mark.parametrize(
        "fields",
        [
            {"reranker": "00000000-0000-0000-0000-000000000000"},
            {"reranker": "nope"},
            {"rerank_candidates": 0},
            {"rerank_candidates": 101},
        ],
    )
    def test_invalid_settings_are_field_errors(self, org_a, client_for, fields):
        admin = client_for(org_a, "admin")
        assistant = self._assistant(admin)

        response = admin.patch(f"/api/v1/assistants/{assistant['id']}", fields, format="json")

        assert set(fields) <= set(assert_error(response, 400)["fields"])

    def test_another_organizations_reranker_cannot_be_chosen(self, org_b, client_for, created):
        other = client_for(org_b, "admin")
        assistant = self._assistant(other)

        response = other.patch(
            f"/api/v1/assistants/{assistant['id']}", {"reranker": created["id"]}, format="json"
        )

        assert "reranker" in assert_error(response, 400)["fields"]

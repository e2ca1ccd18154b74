"""API keys and audited changes through the organization's Django admin."""

import re

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from assistants.models import Assistant
from audit.models import AuditAction, AuditEvent
from integrations.models import APIKey
from integrations.services import api_key_verify
from tests.factories import catalog_model

pytestmark = pytest.mark.django_db


def _admin(org, role="admin") -> Client:
    client = Client(HTTP_HOST=org.host)
    client.force_login(org.user(role))
    return client


def test_an_organization_admin_creates_a_key_and_sees_it_once(org_a):
    response = _admin(org_a).post(
        "/admin/integrations/apikey/add/",
        {"name": "Zapier", "scopes": ["chat:write", "sessions:read"], "expires_at": ""},
        follow=True,
    )

    assert response.status_code == 200
    key = re.search(r"apk_[0-9a-f]{12}_[\w-]+", response.content.decode()).group(0)
    api_key = APIKey.objects.get(organization=org_a.organization, name="Zapier")
    assert api_key_verify(key) == api_key and api_key.scopes == ["chat:write", "sessions:read"]
    assert key not in _admin(org_a).get("/admin/integrations/apikey/").content.decode()
    with schema_context(org_a.slug):
        event = AuditEvent.objects.get(action=AuditAction.API_KEY_CREATED)
    assert event.actor_id == org_a.admin.pk and event.target_id == str(api_key.pk)


def test_revoking_from_the_admin_refuses_the_key_and_is_audited(org_a, client_for):
    _admin(org_a).post(
        "/admin/integrations/apikey/add/",
        {"name": "CI", "scopes": ["assistants:read"], "expires_at": ""},
    )
    api_key = APIKey.objects.get(organization=org_a.organization, name="CI")

    _admin(org_a).post(
        "/admin/integrations/apikey/",
        {"action": "revoke", "_selected_action": [str(api_key.pk)]},
    )

    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    with schema_context(org_a.slug):
        assert AuditEvent.objects.filter(action=AuditAction.API_KEY_REVOKED).count() == 1


def test_the_admin_lists_only_this_organizations_keys_and_only_for_admins(org_a, org_b):
    _admin(org_b).post(
        "/admin/integrations/apikey/add/",
        {"name": "BETA-ONLY", "scopes": ["admin"], "expires_at": ""},
    )

    assert "BETA-ONLY" not in _admin(org_a).get("/admin/integrations/apikey/").content.decode()
    assert _admin(org_a, "member").get("/admin/integrations/apikey/").status_code == 302


def test_assistant_changes_in_the_admin_are_audited(org_a):
    with schema_context(org_a.slug):
        assistant = Assistant.objects.create(name="Desk", model=catalog_model("local/extractive"))
    url = f"/admin/assistants/assistant/{assistant.pk}/change/"
    page = _admin(org_a).get(url)
    form = {
        "name": "Front desk",
        "description": "",
        "avatar": "",
        "model": assistant.model_id,
        "fallback_model": "",
        "system_instructions": assistant.system_instructions,
        "temperature": "0.70",
        "top_p": "1.00",
        "max_output_tokens": assistant.max_output_tokens,
        "retrieval_mode": assistant.retrieval_mode,
        "retrieval_top_k": assistant.retrieval_top_k,
        "retrieval_min_score": "0",
        "reranker": "",
        "rerank_candidates": assistant.rerank_candidates,
        "is_active": "on",
    }

    response = _admin(org_a).post(url, form)

    assert page.status_code == 200
    assert response.status_code == 302, response.content.decode()[:2000]
    with schema_context(org_a.slug):
        assert Assistant.objects.get(pk=assistant.pk).name == "Front desk"
        event = AuditEvent.objects.get(action=AuditAction.ASSISTANT_UPDATED)
    assert event.changes["name"] == ["Desk", "Front desk"]
    assert event.actor_id == org_a.admin.pk

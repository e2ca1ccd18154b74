"""Tenant isolation, generated from the OpenAPI schema.

Every operation of the organization API is called by outsiders against
organization A (alpha) with the ids of A's real objects:

* anonymous on A's host                  -> 401 / 403 / 404
* B's admin on A's host                  -> 404
* B's admin on B's host with A's ids     -> 404
* B's API key (all scopes) on A's host   -> 404
* B's API key on the platform's host (routed to B) with A's ids -> 404
* A's revoked API key                    -> 401

and no answer may contain A's data (its canary strings or object ids), nor
may any of these calls change A's data. New endpoints are covered without new
code; an endpoint whose ids cannot be harvested from A's list endpoints fails
loudly, asking for seed data in ``seed_alpha`` below.
"""

import json

import pytest
from django_tenants.utils import schema_context

from assistants import services as assistant_services
from assistants.models import Assistant
from assistants.tests.conftest import catalog_model
from audit.services import Actor
from chat import services as chat_services
from core.api.authorization import caller_resolve
from integrations import services as key_services
from integrations.models import Scope
from knowledge_base import services as knowledge_services
from knowledge_base.tests.conftest import process_pending
from tests.helpers import api_key_for
from tests.openapi import operations, path_params, tenant_schema
from users import services
from users.models import Role

# Ids whose list endpoint is not the parent path (e.g. messages are listed per session).
ID_SOURCES = {
    "message_id": "/api/v1/chat/sessions/{session_id}/messages",
    "chunk_id": "/api/v1/collections/{collection_id}/documents/{document_id}/chunks",
}

# The only operations outsiders may reach: the token is the credential.
PUBLIC_OPERATIONS = {("POST", "/api/v1/invitations/accept")}
CANARIES = ("ALPHA-CANARY", "@alpha.test", "canary-invitee", "sk-alpha-canary")

OPERATIONS = operations()
# Lists whose content changes with the clock alone (this minute's token window).
TIME_DEPENDENT = {"/api/v1/usage/quotas"}


@pytest.fixture
def seed_alpha(org_a):
    """At least one object of every kind in organization A (extend as the API grows)."""
    services.invitation_create(
        organization=org_a.organization, email="canary-invitee@example.test", role=Role.VIEWER,
        invited_by=org_a.admin,
    )  # fmt: skip
    with schema_context(org_a.slug):
        assistant_services.assistant_create(
            user=org_a.admin, name="ALPHA-CANARY assistant", model=catalog_model("local/extractive")
        )
        assistant_services.credential_create(
            provider="openai", api_key="sk-alpha-canary-secret", user=org_a.admin
        )
        collection = knowledge_services.collection_create(
            name="ALPHA-CANARY collection", embedding_model=catalog_model("local/all-minilm-l6-v2")
        )
        knowledge_services.document_create_text(
            collection=collection, title="ALPHA-CANARY document", text="ALPHA-CANARY secret text"
        )
    process_pending(org_a)  # its chunks
    with schema_context(org_a.slug):
        assistant = Assistant.objects.get(name="ALPHA-CANARY assistant")
        turn = chat_services.chat_prepare(
            organization=org_a.organization, assistant_id=assistant.id,
            message="ALPHA-CANARY question", user=org_a.admin,
            caller=caller_resolve(organization=org_a.organization, user=org_a.admin, api_key=None),
        )  # fmt: skip
        chat_services.chat_finish(turn=turn, text="ALPHA-CANARY answer", status="complete")
    api_key_for(org_a, Scope.ADMIN, name="ALPHA-CANARY key")
    return org_a


@pytest.fixture
def beta_key(org_b):
    """An API key of organization B with every scope."""
    return api_key_for(org_b, *Scope.values, name="beta key")[1]


def _fill(path: str, values: dict) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", str(value))
    return path


def _harvest_ids(client_a, path: str) -> dict:
    """Ids of A's objects for each path parameter, read from A's own list endpoints."""
    values = {}
    for param in path_params(path):
        if param in ID_SOURCES:
            template = ID_SOURCES[param]
            for name, value in _harvest_ids(client_a, template).items():
                values.setdefault(name, value)
            list_path = _fill(template, values)
        else:
            list_path = _fill(path[: path.index("{" + param + "}")].rstrip("/"), values)
        response = client_a.get(list_path, {"page_size": 100})
        results = response.json().get("results") if response.status_code == 200 else None
        assert results, (
            f"Cannot find an id of organization A for {{{param}}} in {path}: GET {list_path} "
            f"gave {response.status_code}. Seed one in seed_alpha() (tests/isolation)."
        )
        values[param] = results[0]["id"]
    return values


def _snapshot(client_a) -> str:
    """Everything A's admin can list, to prove outsiders changed nothing."""
    lists = sorted({p for m, p in OPERATIONS if m == "GET" and not path_params(p)} - TIME_DEPENDENT)
    return json.dumps(
        {p: client_a.get(p, {"page_size": 100}).json() for p in lists}, sort_keys=True
    )


def _call(client, method: str, path: str):
    return getattr(client, method.lower())(path, {}, format="json")


def _assert_no_alpha_data(response, alpha_ids: dict) -> None:
    body = response.content.decode(errors="replace")
    for marker in (*CANARIES, *map(str, alpha_ids.values())):
        assert marker not in body, f"leaked {marker!r}: {body[:300]}"


def _expected(method, path, allowed):
    return {400, 401, 403, 404} if (method, path) in PUBLIC_OPERATIONS else allowed


@pytest.fixture
def alpha_ids(seed_alpha, client_for):
    def harvest(path):
        return _harvest_ids(client_for(seed_alpha, "admin"), path)

    return harvest


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_anonymous_caller_gets_nothing(method, path, seed_alpha, alpha_ids, client_for):
    ids = alpha_ids(path)
    before = _snapshot(client_for(seed_alpha, "admin"))

    response = _call(client_for(seed_alpha), method, _fill(path, ids))

    assert response.status_code in _expected(method, path, {401, 403, 404}), response.content
    _assert_no_alpha_data(response, ids)
    assert _snapshot(client_for(seed_alpha, "admin")) == before


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_other_organizations_admin_on_alphas_host_gets_404(
    method, path, seed_alpha, org_b, alpha_ids, client_for
):
    ids = alpha_ids(path)
    before = _snapshot(client_for(seed_alpha, "admin"))

    response = _call(client_for(seed_alpha.host, org_b.admin), method, _fill(path, ids))

    assert response.status_code in _expected(method, path, {404}), response.content
    _assert_no_alpha_data(response, ids)
    assert _snapshot(client_for(seed_alpha, "admin")) == before


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), [op for op in OPERATIONS if path_params(op[1])])
def test_alphas_ids_on_betas_host_get_404(method, path, seed_alpha, org_b, alpha_ids, client_for):
    ids = alpha_ids(path)
    before = _snapshot(client_for(seed_alpha, "admin"))

    response = _call(client_for(org_b, "admin"), method, _fill(path, ids))

    assert response.status_code in _expected(method, path, {404}), response.content
    _assert_no_alpha_data(response, ids)
    assert _snapshot(client_for(seed_alpha, "admin")) == before


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_other_organizations_api_key_on_alphas_host_gets_404(
    method, path, seed_alpha, beta_key, alpha_ids, client_for
):
    ids = alpha_ids(path)
    before = _snapshot(client_for(seed_alpha, "admin"))

    response = _call(client_for(seed_alpha.host, api_key=beta_key), method, _fill(path, ids))

    # 403: endpoints for people only (e.g. /me) refuse every key before any lookup.
    assert response.status_code in _expected(method, path, {403, 404}), response.content
    _assert_no_alpha_data(response, ids)
    assert _snapshot(client_for(seed_alpha, "admin")) == before


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), [op for op in OPERATIONS if path_params(op[1])])
def test_alphas_ids_with_betas_api_key_on_the_platform_host_get_404(
    method, path, seed_alpha, beta_key, alpha_ids, client_for
):
    ids = alpha_ids(path)
    before = _snapshot(client_for(seed_alpha, "admin"))

    # The platform's own host: the key routes the request to organization B.
    response = _call(client_for("localhost", api_key=beta_key), method, _fill(path, ids))

    assert response.status_code in _expected(method, path, {403, 404}), response.content
    _assert_no_alpha_data(response, ids)
    assert _snapshot(client_for(seed_alpha, "admin")) == before


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_a_revoked_key_gets_nothing(method, path, seed_alpha, alpha_ids, client_for):
    ids = alpha_ids(path)
    api_key, key = api_key_for(seed_alpha, name="revoked")
    with schema_context(seed_alpha.slug):
        key_services.api_key_revoke(api_key=api_key, actor=Actor())
    before = _snapshot(client_for(seed_alpha, "admin"))

    for host in (seed_alpha.host, "localhost"):
        response = _call(client_for(host, api_key=key), method, _fill(path, ids))
        expected = {400, 401, 403, 404} if (method, path) in PUBLIC_OPERATIONS else {401}
        assert response.status_code in expected, (host, response.content)
        _assert_no_alpha_data(response, ids)
    assert _snapshot(client_for(seed_alpha, "admin")) == before


def test_the_suite_sees_the_api():
    assert len(OPERATIONS) >= 10
    assert ("GET", "/api/v1/members/{member_id}") in OPERATIONS


def test_every_list_is_paginated():
    """A GET answering a bare JSON array would be an unpaginated list."""
    for path, item in tenant_schema()["paths"].items():
        get = item.get("get")
        if not get:
            continue
        schema = get["responses"].get("200", {}).get("content", {}).get("application/json", {})
        schema = schema.get("schema", {})
        assert schema.get("type") != "array", f"GET {path} returns an unpaginated list"

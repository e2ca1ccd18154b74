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
loudly, asking for seed data in ``tests.factories.seed_every_kind``.
"""

import json
from dataclasses import dataclass, field

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from audit.services import Actor
from integrations import services as key_services
from integrations.models import Scope
from tests.factories import api_key_for, seed_every_kind
from tests.helpers import HostClient, rolled_back_at_the_end
from tests.openapi import fill_path, harvest_ids, operations, path_params, tenant_schema

# The only operations outsiders may reach: the token is the credential.
PUBLIC_OPERATIONS = {
    ("POST", "/api/v1/invitations/accept"),
    ("POST", "/api/v1/workflows/{workflow_id}/webhook"),  # the signature is the credential
}
CANARIES = ("ALPHA-CANARY", "@alpha.test", "canary-invitee", "sk-alpha-canary")

OPERATIONS = operations()
# Lists whose content changes with the clock alone (this minute's token window).
TIME_DEPENDENT = {"/api/v1/usage/quotas"}


@dataclass
class Seeded:
    alpha: object  # the conftest Org
    beta_key: str  # an API key of organization B with every scope
    before: str  # the snapshot of A taken right after seeding
    ids: dict = field(default_factory=dict)  # path -> A's ids for its parameters


@pytest.fixture(scope="module")
def seeded(organizations, django_db_blocker):
    """Seed once for the module, inside a transaction rolled back at its end (what
    Django's TestCase.setUpTestData does): every test runs in a savepoint within it,
    so whatever a call changes is undone before the next test, and nothing of the
    seed outlives the module. A's snapshot is taken once, here."""
    with rolled_back_at_the_end(django_db_blocker):
        org_a = organizations["alpha"]
        seed_every_kind(org_a, label="ALPHA-CANARY", email="canary-invitee")
        beta_key = api_key_for(organizations["beta"], *Scope.values, name="beta key")[1]
        connection.set_schema_to_public()
        before = _snapshot(HostClient(org_a.host, org_a.admin))
        yield Seeded(org_a, beta_key, before)


@pytest.fixture
def seed_alpha(seeded, db):
    return seeded.alpha


@pytest.fixture
def beta_key(seeded, db):
    return seeded.beta_key


@pytest.fixture
def before(seeded) -> str:
    """A's snapshot before any outsider's call (the seed's: tests change nothing)."""
    return seeded.before


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
def alpha_ids(seeded, seed_alpha, client_for):
    """A's ids for a path's parameters, harvested once per path (the seed is fixed)."""

    def harvest(path):
        if path not in seeded.ids:
            seeded.ids[path] = harvest_ids(client_for(seed_alpha, "admin"), path)
        return seeded.ids[path]

    return harvest


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_anonymous_caller_gets_nothing(method, path, before, seed_alpha, alpha_ids, client_for):
    ids = alpha_ids(path)

    response = _call(client_for(seed_alpha), method, fill_path(path, ids))

    assert response.status_code in _expected(method, path, {401, 403, 404}), response.content
    _assert_no_alpha_data(response, ids)
    assert _snapshot(client_for(seed_alpha, "admin")) == before


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_other_organizations_admin_on_alphas_host_gets_404(
    method, path, before, seed_alpha, org_b, alpha_ids, client_for
):
    ids = alpha_ids(path)

    response = _call(client_for(seed_alpha.host, org_b.admin), method, fill_path(path, ids))

    assert response.status_code in _expected(method, path, {404}), response.content
    _assert_no_alpha_data(response, ids)
    assert _snapshot(client_for(seed_alpha, "admin")) == before


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), [op for op in OPERATIONS if path_params(op[1])])
def test_alphas_ids_on_betas_host_get_404(
    method, path, before, seed_alpha, org_b, alpha_ids, client_for
):
    ids = alpha_ids(path)

    response = _call(client_for(org_b, "admin"), method, fill_path(path, ids))

    assert response.status_code in _expected(method, path, {404}), response.content
    _assert_no_alpha_data(response, ids)
    assert _snapshot(client_for(seed_alpha, "admin")) == before


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_other_organizations_api_key_on_alphas_host_gets_404(
    method, path, before, seed_alpha, beta_key, alpha_ids, client_for
):
    ids = alpha_ids(path)

    response = _call(client_for(seed_alpha.host, api_key=beta_key), method, fill_path(path, ids))

    # 403: endpoints for people only (e.g. /me) refuse every key before any lookup.
    assert response.status_code in _expected(method, path, {403, 404}), response.content
    _assert_no_alpha_data(response, ids)
    assert _snapshot(client_for(seed_alpha, "admin")) == before


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), [op for op in OPERATIONS if path_params(op[1])])
def test_alphas_ids_with_betas_api_key_on_the_platform_host_get_404(
    method, path, before, seed_alpha, beta_key, alpha_ids, client_for
):
    ids = alpha_ids(path)

    # The platform's own host: the key routes the request to organization B.
    response = _call(client_for("localhost", api_key=beta_key), method, fill_path(path, ids))

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
        response = _call(client_for(host, api_key=key), method, fill_path(path, ids))
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

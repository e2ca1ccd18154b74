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
may any of these calls change A's data. "No change" is proven per call: PostgreSQL's
per-transaction counters (``tests.helpers.db_writes``) show whether the call wrote a
row anywhere; when it wrote none in A's schema or the shared (public) schema, A's
lists, which are read from those, cannot have changed; when it did, every list A's
admin can read is compared with the snapshot taken after seeding. New endpoints are covered without new
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
from tests.helpers import HostClient, db_writes, rolled_back_at_the_end
from tests.openapi import fill_path, harvest_ids, operations, path_params, tenant_schema

# The only operations outsiders may reach: the token is the credential.
PUBLIC_OPERATIONS = {
    ("POST", "/api/v1/invitations/accept"),
    ("POST", "/api/v1/workflows/{workflow_id}/webhook"),  # the signature is the credential
    # The widget's visitors: anonymous by design; the page's Origin among the widget's
    # allowed domains and the visitor's signed token are the credential (ADR 0038).
    # Outsiders (no allowed Origin, or another organization's host) still get nothing;
    # integrations/widget/tests also sends A's allowed Origin and token to B's host.
    ("GET", "/api/v1/widget/{public_id}/config"),
    ("GET", "/api/v1/widget/{public_id}/messages"),
    ("POST", "/api/v1/widget/{public_id}/chat"),
    ("POST", "/api/v1/widget/{public_id}/feedback"),
    ("POST", "/api/v1/widget/{public_id}/files"),
}
CANARIES = ("ALPHA-CANARY", "@alpha.test", "canary-invitee", "sk-alpha-canary")

OPERATIONS = operations()
# Lists whose content changes with the clock alone (this minute's token window).
TIME_DEPENDENT = {"/api/v1/usage/quotas"}


@dataclass
class Seeded:
    alpha: object  # the conftest Org
    beta_key: str  # an API key of organization B with every scope
    revoked_key: str  # an API key of A, revoked
    before: str  # the snapshot of A taken right after seeding
    shared_rows: dict  # digests of A's rows in the shared tables, right after seeding
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
        api_key, revoked_key = api_key_for(org_a, name="revoked")
        with schema_context(org_a.slug):
            key_services.api_key_revoke(api_key=api_key, actor=Actor())
        connection.set_schema_to_public()
        before = _snapshot(HostClient(org_a.host, org_a.admin))
        shared_rows = _alphas_shared_rows(org_a.organization.pk)
        yield Seeded(org_a, beta_key, revoked_key, before, shared_rows)


@pytest.fixture
def seed_alpha(seeded, db):
    return seeded.alpha


@pytest.fixture
def beta_key(seeded, db):
    return seeded.beta_key


def _snapshot(client_a) -> str:
    """Everything A's admin can list, to prove outsiders changed nothing."""
    lists = sorted({p for m, p in OPERATIONS if m == "GET" and not path_params(p)} - TIME_DEPENDENT)
    return json.dumps(
        {p: client_a.get(p, {"page_size": 100}).json() for p in lists}, sort_keys=True
    )


def _call(client, method: str, path: str):
    return getattr(client, method.lower())(path, {}, format="json")


def _alphas_shared_rows(organization_id) -> dict:
    """A digest of A's rows in each shared (public) table that names an organization."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND column_name = 'organization_id'"
        )
        tables = [name for (name,) in cursor.fetchall()]
        digests = {}
        for table in tables:
            cursor.execute(
                f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
                f'FROM public."{table}" t WHERE organization_id = %s',
                [organization_id],
            )
            digests[f"public.{table}"] = cursor.fetchone()[0]
    return digests


def _assert_alpha_unchanged(written_before: dict, seeded, client_for) -> None:
    """A's data is as seeded. PostgreSQL's counters name the tables the call wrote to:
    a write in another organization's schema cannot reach A's lists (each schema is
    its own search path); a write in a shared table that names the organization must
    have left A's rows exactly as seeded; any other write (A's schema, a shared table
    without an organization) and every list A's admin can read must be unchanged."""
    after = db_writes()
    written = [table for table, n in after.items() if n != written_before.get(table, 0)]
    alpha = seeded.alpha
    compare_lists = False
    for table in written:
        schema = table.split(".", 1)[0]
        if schema == "public" and table in seeded.shared_rows:
            assert _alphas_shared_rows(alpha.organization.pk)[table] == seeded.shared_rows[table]
        elif schema in (alpha.slug, "public") or schema.startswith("pg_"):
            compare_lists = True
    if compare_lists:
        assert _snapshot(client_for(alpha, "admin")) == seeded.before, written


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
def test_anonymous_caller_gets_nothing(method, path, seeded, seed_alpha, alpha_ids, client_for):
    ids = alpha_ids(path)

    client = client_for(seed_alpha)
    written = db_writes()

    response = _call(client, method, fill_path(path, ids))

    assert response.status_code in _expected(method, path, {401, 403, 404}), response.content
    _assert_no_alpha_data(response, ids)
    _assert_alpha_unchanged(written, seeded, client_for)


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_other_organizations_admin_on_alphas_host_gets_404(
    method, path, seeded, seed_alpha, org_b, alpha_ids, client_for
):
    ids = alpha_ids(path)

    client = client_for(seed_alpha.host, org_b.admin)
    written = db_writes()

    response = _call(client, method, fill_path(path, ids))

    assert response.status_code in _expected(method, path, {404}), response.content
    _assert_no_alpha_data(response, ids)
    _assert_alpha_unchanged(written, seeded, client_for)


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), [op for op in OPERATIONS if path_params(op[1])])
def test_alphas_ids_on_betas_host_get_404(
    method, path, seeded, seed_alpha, org_b, alpha_ids, client_for
):
    ids = alpha_ids(path)

    client = client_for(org_b, "admin")
    written = db_writes()

    response = _call(client, method, fill_path(path, ids))

    assert response.status_code in _expected(method, path, {404}), response.content
    _assert_no_alpha_data(response, ids)
    _assert_alpha_unchanged(written, seeded, client_for)


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_other_organizations_api_key_on_alphas_host_gets_404(
    method, path, seeded, seed_alpha, beta_key, alpha_ids, client_for
):
    ids = alpha_ids(path)

    client = client_for(seed_alpha.host, api_key=beta_key)
    written = db_writes()

    response = _call(client, method, fill_path(path, ids))

    # 403: endpoints for people only (e.g. /me) refuse every key before any lookup.
    assert response.status_code in _expected(method, path, {403, 404}), response.content
    _assert_no_alpha_data(response, ids)
    _assert_alpha_unchanged(written, seeded, client_for)


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), [op for op in OPERATIONS if path_params(op[1])])
def test_alphas_ids_with_betas_api_key_on_the_platform_host_get_404(
    method, path, seeded, seed_alpha, beta_key, alpha_ids, client_for
):
    ids = alpha_ids(path)

    # The platform's own host: the key routes the request to organization B.
    client = client_for("localhost", api_key=beta_key)
    written = db_writes()

    response = _call(client, method, fill_path(path, ids))

    assert response.status_code in _expected(method, path, {403, 404}), response.content
    _assert_no_alpha_data(response, ids)
    _assert_alpha_unchanged(written, seeded, client_for)


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_a_revoked_key_gets_nothing(method, path, seeded, seed_alpha, alpha_ids, client_for):
    ids = alpha_ids(path)

    for host in (seed_alpha.host, "localhost"):
        client = client_for(host, api_key=seeded.revoked_key)
        written = db_writes()

        response = _call(client, method, fill_path(path, ids))

        expected = {400, 401, 403, 404} if (method, path) in PUBLIC_OPERATIONS else {401}
        assert response.status_code in expected, (host, response.content)
        _assert_no_alpha_data(response, ids)
        _assert_alpha_unchanged(written, seeded, client_for)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/api/v1/assistants/{assistant_id}", {"description": "changed"}),  # A's schema
        ("DELETE", "/api/v1/invitations/{invitation_id}", {}),  # a shared table naming A
        ("PATCH", "/api/v1/organization", {"name": "Changed"}),  # a shared table, no such column
    ],
)
def test_the_unchanged_check_notices_a_change_to_alphas_data(
    method, path, body, seeded, seed_alpha, alpha_ids, client_for
):
    """The check the cases above end with fails when A's data did change."""
    client = client_for(seed_alpha, "admin")
    written = db_writes()

    response = getattr(client, method.lower())(
        fill_path(path, alpha_ids(path)), body, format="json"
    )

    assert response.status_code < 300, response.content
    with pytest.raises(AssertionError):
        _assert_alpha_unchanged(written, seeded, client_for)


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

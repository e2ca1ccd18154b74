"""Assertions and lookups shared by test modules (fixtures live in conftest.py)."""

from django.db import connection

PASSWORD = "correct-horse-battery-staple-42"
# The key the local wire-protocol server (provider_server fixture) accepts.
GOOD_KEY = "sk-test-good-key-1234"


def assert_error(response, status: int, code: str | None = None) -> dict:
    """Every API error has the one shape; returns its inner object."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "fields"}, body
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


def schema_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", [name])
        return cursor.fetchone() is not None


def api_key_for(org, *scopes: str, name: str = "program", **fields):
    """A new API key of ``org`` (a conftest ``Org``): ``(APIKey, full key)``.
    Without scopes it has ``admin`` (every scope)."""
    from django_tenants.utils import schema_context

    from audit.services import Actor
    from integrations.services import api_key_create

    with schema_context(org.slug):
        return api_key_create(
            organization=org.organization, name=name, scopes=list(scopes) or ["admin"],
            actor=Actor(user=org.admin), **fields,
        )  # fmt: skip


def db_writes() -> dict:
    """Rows inserted, updated or deleted so far in this transaction, per table, across
    every schema (PostgreSQL's own per-transaction counters). Writes rolled back to a
    savepoint count too: "nothing written" means nothing was even attempted."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT schemaname || '.' || relname, n_tup_ins + n_tup_upd + n_tup_del "
            "FROM pg_stat_xact_all_tables WHERE n_tup_ins + n_tup_upd + n_tup_del > 0"
        )
        return dict(cursor.fetchall())


def assert_nothing_written(before: dict, label: str = "") -> None:
    """No row changed in any table since ``before = db_writes()``."""
    after = db_writes()
    changed = {table: after[table] - before.get(table, 0) for table in after}
    changed = {table: n for table, n in changed.items() if n}
    assert not changed, f"{label}: rows written in {changed}"

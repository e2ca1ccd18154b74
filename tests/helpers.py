"""Assertions and lookups shared by test modules (fixtures live in conftest.py)."""

from contextlib import contextmanager

from django.db import connection, transaction
from rest_framework.test import APIClient

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


def fresh(org):
    """The organization as the database has it now (its plan may have changed)."""
    from users.models import Organization

    return Organization.objects.get(pk=org.organization.pk)


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


def parse_sse(body: bytes) -> list[tuple[str, dict]]:
    import json

    events = []
    for block in body.decode().strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def stream_body(response) -> bytes:
    """Read a streamed body the way an ASGI server does (async iterator); the database
    work inside runs back on this test's thread, in its transaction."""
    from asgiref.sync import async_to_sync

    if not response.is_async:
        return b"".join(response.streaming_content)

    async def collect() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    return async_to_sync(collect)()


class HostClient(APIClient):
    """An API client bound to one host, optionally logged in."""

    def __init__(self, host: str, user=None, api_key: str | None = None):
        super().__init__(HTTP_HOST=host)
        if user is not None:
            self.force_login(user)
        if api_key is not None:
            self.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")


@contextmanager
def rolled_back_at_the_end(django_db_blocker):
    """Data seeded once for a module (what Django's TestCase.setUpTestData does):
    inside a transaction rolled back at the end, so each test runs in a savepoint
    within it (what a test changes is undone) and nothing outlives the module."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            connection.set_schema_to_public()

"""Backups with PostgreSQL's own tools (infra/backup.py): the whole database restored
into an empty one holds the same schemas, tables and rows; one organization's schema,
lost, comes back from its own dump."""

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def url_of(name: str) -> str:
    db = settings.DATABASES["default"]
    user = f"{db['USER']}@" if db.get("USER") else ""
    return f"postgres://{user}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{name}"


def backup(*args: str, url: str) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "infra" / "backup.py"), *args],
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def contents(url: str, schemas: tuple[str, ...]) -> dict[str, int]:
    """Every table of ``schemas`` with its row count."""
    counts = {}
    with psycopg.connect(url) as connection:
        tables = connection.execute(
            "SELECT schemaname, tablename FROM pg_tables WHERE schemaname = ANY(%s)",
            [list(schemas)],
        ).fetchall()
        for schema, table in tables:
            (count,) = connection.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()
            counts[f"{schema}.{table}"] = count
    return counts


@pytest.fixture
def empty_database(django_db_setup, django_db_blocker):
    name = f"restore_{os.getpid()}"
    admin = url_of("postgres")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    yield url_of(name)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_whole_database_and_one_organization_restore_as_they_were(
    db, organizations, empty_database, tmp_path
):
    # `db`: the suite's test database (its organizations are committed at session start);
    # the dumps read what is committed, through connections of their own.
    # given: the suite's database, with its two organizations committed
    source = url_of(settings.DATABASES["default"]["NAME"])
    alpha = organizations["alpha"].slug
    before = contents(source, ("public", alpha))
    assert before[f"{alpha}.assistants_assistant"] >= 0 and before["public.users_organization"] >= 3

    # when: dumped and restored into an empty database
    backup("dump", str(tmp_path / "all.dump"), url=source)
    backup("restore", str(tmp_path / "all.dump"), "--into", empty_database, url=source)

    # then: the same tables with the same rows
    assert contents(empty_database, ("public", alpha)) == before

    # when: one organization's schema is lost, then restored from its own dump
    backup("dump", str(tmp_path / "alpha.dump"), "--organization", alpha, url=source)
    with psycopg.connect(empty_database, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA "{alpha}" CASCADE')
    assert contents(empty_database, (alpha,)) == {}
    backup("restore", str(tmp_path / "alpha.dump"), "--organization", alpha, url=empty_database)

    # then: it is back, and nothing else changed
    assert contents(empty_database, ("public", alpha)) == before

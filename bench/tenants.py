"""Many organizations: sign-up, migrations, catalog and request latency as they grow.

On a fresh database of its own (``bench_tenants`` on the embedded PostgreSQL, dropped
and created at the start; nothing else is touched):

1. ``migrate`` (public schema + the template schema, core/schema_template.py).
2. Organization 1 with an admin and three collections, then a copy of the database
   (``bench_tenants_one``: organization 1 alone). Latency of organization 1's collection
   list (``GET /api/v1/collections``, Django's test client in this process, the whole
   middleware stack: host routing, session, tenant schema), of ``GET /healthz`` (no
   tenant) and of the same rows read by one SQL statement (the raw baseline), in both
   databases alternately (blocks of 25, same machine load), on warm connections and on
   a new connection each.
3. Sign-ups (``users.services.signup``: user, organization, schema, membership, the
   confirmation e-mail to a local outbox) up to ``--orgs`` organizations, schemas
   cloned from the template; figures around 10, 100 and ``--orgs`` existing
   organizations. Baseline: sign-ups with the migrations run instead of the clone
   (``TENANT_SCHEMA_CLONING`` off), ``--baseline`` of them paired with cloned ones at
   the start and at the end (same load): the ratio is migrated p50 / cloned p50.
4. Catalog size (``pg_class``, ``pg_attribute`` rows, database size) at each stage;
   disk per organization.
5. The same latencies again, alternated between the database with every organization
   and the copy with organization 1 alone: the ratio (target <= 1.1).
6. ``migrate_schemas`` over every organization: a no-op, then a real schema change
   (assistants 0003 unapplied and applied again: two columns dropped and added in every
   schema). The no-op with the standard executor and with django-tenants'
   multiprocessing executor (``TENANT_MULTIPROCESSING_MAX_PROCESSES``, default 2 here);
   the schema change with the multiprocessing one (what the migrations Job runs).

    .venv/bin/python bench/tenants.py [--orgs 1000] [--baseline 5] [--requests 300]
                                      [--skip-migrations] [--processes 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common

DATABASE = "bench_tenants"
ALONE = "bench_tenants_one"  # a copy taken when organization 1 was the only one
PREFIX = "tenantsb"
PASSWORD = "bench-Pa55word-long"


def fresh_database() -> None:
    """Drop and create DATABASE on the embedded server; point Django at it."""
    import psycopg

    from config import localservices

    localservices.ensure_services()
    base = os.environ.get("DATABASE_URL") or localservices.postgres_url()
    server, _, _ = base.rpartition("/")
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"DROP DATABASE IF EXISTS {ALONE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    os.environ["DATABASE_URL"] = f"{server}/{DATABASE}"


def load() -> float:
    return round(os.getloadavg()[0], 2)


def catalog_stats() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM pg_class), (SELECT count(*) FROM pg_attribute), "
            "pg_database_size(current_database()), "
            "(SELECT count(*) FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%%' "
            "AND nspname <> 'information_schema')"
        )
        pg_class, pg_attribute, size, schemas = cursor.fetchone()
    return {
        "pg_class_rows": pg_class,
        "pg_attribute_rows": pg_attribute,
        "database_bytes": size,
        "schemas": schemas,
        "load_average_1min": load(),
    }


def organization_count() -> int:
    from users.models import Organization

    return Organization.objects.exclude(schema_name="public").count()


SCHEMA_STEP: list[float] = []  # seconds of each sign-up's schema step (clone or migrations)


def time_the_schema_step() -> None:
    """Record how long ``schema_create`` takes inside each sign-up (a timer around the
    real function; the rest of a sign-up is the password hash, rows and the e-mail)."""
    from core import schema_template

    real = schema_template.schema_create

    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            SCHEMA_STEP.append(time.perf_counter() - started)

    schema_template.schema_create = timed


def signup(n: int, *, clone: bool) -> float:
    from django.conf import settings
    from django.db import connection

    from users import services

    connection.set_schema_to_public()
    settings.TENANT_SCHEMA_CLONING = clone
    slug = f"{PREFIX}{n:05d}"
    started = time.perf_counter()
    services.signup(
        email=f"owner@{slug}.test",
        password=PASSWORD,
        organization_name=f"Bench {n}",
        slug=slug,
    )
    elapsed = time.perf_counter() - started
    settings.TENANT_SCHEMA_CLONING = True
    connection.set_schema_to_public()
    return elapsed


def first_organization():
    from django.db import connection
    from django_tenants.utils import schema_context

    from assistants.catalog.services import ai_models_sync
    from knowledge_base import services as knowledge_services
    from users.models import Organization, User

    ai_models_sync()
    signup(0, clone=True)
    organization = Organization.objects.get(schema_name=f"{PREFIX}00000")
    user = User.objects.get(email=f"owner@{PREFIX}00000.test")
    with schema_context(organization.schema_name):
        for name in ("Handbook", "Contracts", "Support"):
            knowledge_services.collection_create(
                name=name, embedding_model=common.local_embedding_model()
            )
    connection.set_schema_to_public()
    return organization, user


def use_database(name: str) -> None:
    from django.db import connections

    connections.close_all()
    connections["default"].settings_dict["NAME"] = name


def copy_database(source: str, target: str) -> None:
    """``target`` as a file copy of ``source`` (organization 1 alone, kept for step 5)."""
    import psycopg
    from django.db import connections

    connections.close_all()
    server, _, _ = os.environ["DATABASE_URL"].rpartition("/")
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {target} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {target} TEMPLATE {source}")


def request_latency(organization, user, requests: int, databases: list[str]) -> dict:
    """Organization 1's collection list, /healthz (no tenant, no query) and the same rows
    read by one SQL statement (the raw baseline), in each database, alternated in blocks
    of 25 so that both see the same machine load; warm connections, and new ones."""
    from django.db import connection
    from rest_framework.test import APIClient

    clients = {}
    for database in databases:
        use_database(database)
        clients[database] = APIClient(HTTP_HOST=organization.host)
        clients[database].force_login(user)

    def get(database: str, path: str) -> float:
        started = time.perf_counter()
        response = clients[database].get(path)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, (path, response.status_code, response.content[:300])
        return elapsed

    def raw(database: str, path: str) -> float:
        connection.set_schema_to_public()
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(
                f'SELECT * FROM "{organization.schema_name}".knowledge_base_collection '
                "ORDER BY name LIMIT 20"
            )
            cursor.fetchall()
        return time.perf_counter() - started

    kinds = {
        "collections": (get, "/api/v1/collections"),
        "healthz": (get, "/healthz"),
        "raw_sql": (raw, ""),
    }
    warm = {(d, k): [] for d in databases for k in kinds}
    cold = {(d, "collections"): [] for d in databases}
    block = 25
    for _ in range(max(requests // block, 1)):
        for database in databases:
            use_database(database)
            for kind, (fn, path) in kinds.items():
                for _ in range(5):
                    fn(database, path)
                warm[(database, kind)] += [fn(database, path) for _ in range(block)]
            connection.set_schema_to_public()
    for _ in range(max(requests // 10, 10)):
        for database in databases:
            use_database(database)
            cold[(database, "collections")].append(get(database, "/api/v1/collections"))
    figures = {
        database: {
            **{kind: common.latency_summary(warm[(database, kind)]) for kind in kinds},
            "collections_new_connection": common.latency_summary(cold[(database, "collections")]),
        }
        for database in databases
    }
    figures["load_average_1min"] = load()
    use_database(DATABASE)
    connection.set_schema_to_public()
    return figures


def signup_summary(samples: list[tuple[int, float]], lo: int, hi: int) -> dict:
    values = [s for existing, s in samples if lo <= existing <= hi]
    if not values:
        return {}
    return {
        "existing_organizations": [lo, hi],
        "p50_s": round(common.percentile(values, 50), 3),
        "p95_s": round(common.percentile(values, 95), 3),
        "p99_s": round(common.percentile(values, 99), 3),
        "n": len(values),
    }


def paired_baseline(start_n: int, pairs: int) -> tuple[list[float], list[float], int]:
    """``pairs`` migrated and cloned sign-ups, alternated (same load for both)."""
    migrated, cloned = [], []
    n = start_n
    for _ in range(pairs):
        migrated.append((signup(n, clone=False), SCHEMA_STEP[-1]))
        n += 1
        cloned.append((signup(n, clone=True), SCHEMA_STEP[-1]))
        n += 1
    return migrated, cloned, n


def migrate_all(executor: str, *args: str) -> float:
    from django.core.management import call_command
    from django.db import connection

    started = time.perf_counter()
    call_command("migrate_schemas", *args, executor=executor, interactive=False, verbosity=0)
    elapsed = time.perf_counter() - started
    connection.set_schema_to_public()
    return round(elapsed, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orgs", type=int, default=1000)
    parser.add_argument("--baseline", type=int, default=5, help="migrated sign-ups per end")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--skip-migrations", action="store_true")
    options = parser.parse_args()

    fresh_database()
    os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
    common.setup_django()
    from django.conf import settings
    from django.core import mail
    from django.core.management import call_command

    from core import schema_template

    settings.TENANT_MULTIPROCESSING_MAX_PROCESSES = options.processes
    time_the_schema_step()
    report: dict = {"options": vars(options), "database": DATABASE}
    print(f"fresh database {DATABASE}; load {load()}", flush=True)

    started = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    report["migrate_fresh_database_s"] = round(time.perf_counter() - started, 2)
    report["template"] = schema_template.template_state() == (
        schema_template.migrations_fingerprint()
    )
    report["catalog"] = {"0": catalog_stats()}
    print(f"migrate (public + template): {report['migrate_fresh_database_s']} s", flush=True)

    organization, user = first_organization()
    report["catalog"]["1"] = catalog_stats()
    copy_database(DATABASE, ALONE)
    use_database(DATABASE)
    report["latency_at_start"] = request_latency(
        organization, user, options.requests, [DATABASE, ALONE]
    )
    print(f"latency, both databases with 1 organization: {report['latency_at_start']}", flush=True)

    migrated_start, cloned_start, n = paired_baseline(1, options.baseline)
    print(
        f"baseline at start (sign-up s, schema step s): migrated {migrated_start} "
        f"cloned {cloned_start} (load {load()})",
        flush=True,
    )

    samples: list[tuple[int, float]] = []
    schema_samples: list[tuple[int, float]] = []
    checkpoints = {10, 100, 250, 500, 750, options.orgs}
    while True:
        existing = organization_count()
        if existing in checkpoints:
            report["catalog"][str(existing)] = catalog_stats()
        if existing >= options.orgs - options.baseline * 2:
            break
        samples.append((existing, signup(n, clone=True)))
        schema_samples.append((existing, SCHEMA_STEP[-1]))
        n += 1
        mail.outbox = []
        if existing % 50 == 0:
            print(
                f"{existing} organizations, last sign-up {samples[-1][1]:.2f} s "
                f"(schema {schema_samples[-1][1]:.2f} s), load {load()}",
                flush=True,
            )
    migrated_end, cloned_end, n = paired_baseline(n, options.baseline)
    existing = organization_count()
    report["catalog"][str(existing)] = catalog_stats()
    print(
        f"baseline at {existing} (sign-up s, schema step s): migrated {migrated_end} "
        f"cloned {cloned_end} (load {load()})",
        flush=True,
    )

    top = max(e for e, _ in samples) if samples else 0
    report["signup_cloned"] = {
        "around_10": signup_summary(samples, 1, 20),
        "around_100": signup_summary(samples, 90, 110),
        f"around_{options.orgs}": signup_summary(samples, max(top - 40, 0), top),
        "all": signup_summary(samples, 0, top),
    }
    report["schema_step_cloned"] = {
        "around_10": signup_summary(schema_samples, 1, 20),
        "around_100": signup_summary(schema_samples, 90, 110),
        f"around_{options.orgs}": signup_summary(schema_samples, max(top - 40, 0), top),
        "all": signup_summary(schema_samples, 0, top),
    }
    p50 = common.percentile

    def paired(migrated, cloned, existing):
        whole_m, whole_c = [m[0] for m in migrated], [c[0] for c in cloned]
        step_m, step_c = [m[1] for m in migrated], [c[1] for c in cloned]
        return {
            "existing_organizations": existing,
            "signup_migrated_s": [round(v, 3) for v in whole_m],
            "signup_cloned_s": [round(v, 3) for v in whole_c],
            "schema_step_migrated_s": [round(v, 3) for v in step_m],
            "schema_step_cloned_s": [round(v, 3) for v in step_c],
            "signup_ratio_p50": round(p50(whole_m, 50) / p50(whole_c, 50), 1),
            "schema_step_ratio_p50": round(p50(step_m, 50) / p50(step_c, 50), 1),
        }

    report["signup_baseline"] = {
        "start": paired(migrated_start, cloned_start, 1),
        "end": paired(migrated_end, cloned_end, existing),
    }
    first, last = report["catalog"]["1"], report["catalog"][str(existing)]
    report["disk_per_organization_bytes"] = round(
        (last["database_bytes"] - first["database_bytes"]) / max(existing - 1, 1)
    )
    report["pg_class_rows_per_organization"] = round(
        (last["pg_class_rows"] - first["pg_class_rows"]) / max(existing - 1, 1), 1
    )

    report["latency_at_end"] = request_latency(
        organization, user, options.requests, [DATABASE, ALONE]
    )
    ratios = {}
    for stage in ("latency_at_start", "latency_at_end"):
        many, alone = report[stage][DATABASE], report[stage][ALONE]
        ratios[stage] = {
            kind: round(many[kind]["p50_ms"] / alone[kind]["p50_ms"], 3)
            for kind in ("collections", "collections_new_connection", "healthz", "raw_sql")
        }
    report["latency_ratio_p50_many_over_alone"] = ratios
    end_ratio = ratios["latency_at_end"]
    report["latency_ratio_target_1_1"] = common.verdict(end_ratio["collections"] <= 1.1)
    print(f"latency ratios (N organizations / 1, p50): {ratios}", flush=True)

    if not options.skip_migrations:
        migrations = {"organizations": existing}
        for executor in ("standard", "multiprocessing"):
            migrations[f"noop_{executor}_s"] = migrate_all(executor)
            print(f"no-op migrate_schemas ({executor}): {migrations[f'noop_{executor}_s']} s")
        # A real schema change in every organization (assistants 0003: two columns),
        # unapplied then applied again, with the parallel executor (what the Job runs).
        migrations["two_columns_unapply_multiprocessing_s"] = migrate_all(
            "multiprocessing", "assistants", "0002"
        )
        migrations["two_columns_apply_multiprocessing_s"] = migrate_all("multiprocessing")
        print(f"assistants 0003 unapplied and applied: {migrations}, load {load()}", flush=True)
        migrations["load_average_1min"] = load()
        report["migrate_schemas"] = migrations

    summary = report["signup_cloned"]
    common.print_table(
        ["figure", "value"],
        [
            [
                "sign-up p50 / p99 at ~10 (s)",
                f"{summary['around_10'].get('p50_s')} / {summary['around_10'].get('p99_s')}",
            ],
            [
                f"sign-up p50 / p99 at ~{existing} (s)",
                f"{summary[f'around_{options.orgs}'].get('p50_s')} / "
                f"{summary[f'around_{options.orgs}'].get('p99_s')}",
            ],
            [
                f"schema step p50 / p99 at ~{existing} (s)",
                f"{report['schema_step_cloned'][f'around_{options.orgs}'].get('p50_s')} / "
                f"{report['schema_step_cloned'][f'around_{options.orgs}'].get('p99_s')}",
            ],
            [
                "sign-up migrated / cloned p50, start",
                report["signup_baseline"]["start"]["signup_ratio_p50"],
            ],
            [
                "sign-up migrated / cloned p50, end",
                report["signup_baseline"]["end"]["signup_ratio_p50"],
            ],
            [
                "schema step migrated / cloned p50, end",
                report["signup_baseline"]["end"]["schema_step_ratio_p50"],
            ],
            ["pg_class rows per organization", report["pg_class_rows_per_organization"]],
            ["disk per organization (bytes)", report["disk_per_organization_bytes"]],
            ["request p50 ratio, N orgs / 1 (warm)", end_ratio["collections"]],
            ["request p50 ratio, N orgs / 1 (new conn.)", end_ratio["collections_new_connection"]],
            ["raw SQL p50 ratio, N orgs / 1", end_ratio["raw_sql"]],
            ["same ratio at the start (both 1 org)", ratios["latency_at_start"]["collections"]],
            ["load average (1 min) now", load()],
        ],
    )
    common.write_results("tenants", report)


if __name__ == "__main__":
    main()

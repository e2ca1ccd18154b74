"""New organization schemas cloned from a migrated template schema (ADR 0054).

Running every tenant migration for each sign-up costs seconds (~80 migrations);
copying a schema that is already migrated costs a fraction of that. `migrate`
(any run over all tenants) keeps one template schema, ``_template``, rebuilt from
nothing whenever the migrations change: its comment holds a fingerprint of the
migration graph, so a stale or missing template is noticed and never cloned
(sign-up then runs the migrations, as before).

The clone is our own DDL, read from PostgreSQL's catalog (``pg_get_indexdef``,
``pg_get_constraintdef``...) once per template and replayed with the new schema's
name: tables with their columns, types, defaults, generated and identity columns,
named NOT NULL, primary key, unique, check and foreign-key constraints, every
index (pgvector HNSW and GIN included), sequences with the template's values,
functions, triggers, comments, and the template's rows (its ``django_migrations``).
Names are kept exactly, which django-tenants' ``clone_schema`` does not (it renames
unique constraints derived from the schema). Anything the template holds that this
does not reproduce (views, types, row security...) makes the template unusable
and sign-up falls back to migrations. ``template_ensure`` proves each new template:
it clones it once and compares the two catalogs (``schema_catalog``).

Not used on Citus (schema-based sharding): organizations there are migrated.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sys
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction

logger = logging.getLogger(__name__)

TEMPLATE_SCHEMA = "_template"
CHECK_SCHEMA = "_template_check"
# Bump when the way the template is built or cloned changes: every template is rebuilt.
CLONER_VERSION = "1"
_TARGET = "\ufffeSCHEMA\ufffe"  # placeholder for the new schema's name in cached DDL
_LOCK_KEY = 0x5C4E3A  # advisory lock: one template build at a time


class TemplateUnsupported(Exception):
    """The template holds an object kind the cloner does not reproduce."""


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _requalify(text: str, source: str, target: str) -> str:
    """Replace ``source.`` (as PostgreSQL prints it, quoted or not) with ``target.``."""
    names = [re.escape(_quote(source)) + r"\.", r'(?<![\w"$])' + re.escape(source) + r"\."]
    return re.sub("|".join(names), target + ".", text)


# -- when cloning applies ----------------------------------------------------


def cloning_enabled() -> bool:
    return bool(getattr(settings, "TENANT_SCHEMA_CLONING", True)) and not _on_citus()


def _on_citus() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'citus'")
        return cursor.fetchone() is not None


@lru_cache(maxsize=1)
def migrations_fingerprint() -> str:
    """A hash of what a freshly migrated tenant schema is made of: every migration's
    name (all are recorded in the tenant's django_migrations) and the source of the
    tenant apps' migrations, plus the cloner's version."""
    from django.apps import apps
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(None, ignore_no_migrations=True, load=True)
    tenant_labels = {
        config.label for config in apps.get_app_configs() if config.name in settings.TENANT_APPS
    }
    digest = hashlib.sha256(f"cloner {CLONER_VERSION}\n".encode())
    for key in sorted(loader.disk_migrations):
        digest.update(f"{key[0]}.{key[1]}\n".encode())
        if key[0] in tenant_labels:
            module = sys.modules[type(loader.disk_migrations[key]).__module__]
            digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()


def template_state() -> str | None:
    """The fingerprint the template was built and verified with, or None (missing)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s",
            [TEMPLATE_SCHEMA],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def template_fresh() -> bool:
    return template_state() == migrations_fingerprint()


# -- reading the template's catalog into DDL ---------------------------------


@dataclass(frozen=True)
class CloneScript:
    version: str  # the template's comment when it was read
    sql: str  # statements with _TARGET in place of the new schema's name


_cache: dict[str, CloneScript] = {}
_cache_lock = threading.Lock()


def _rows(cursor, sql: str, params=()) -> list[tuple]:
    cursor.execute(sql, params)
    return cursor.fetchall()


def _clone_sql(cursor, source: str) -> str:
    """DDL that rebuilds ``source`` in a schema named _TARGET (read with
    ``search_path = public`` so the source's objects print qualified and public's not)."""
    nsp = _rows(cursor, "SELECT oid FROM pg_namespace WHERE nspname = %s", [source])[0][0]

    def req(text: str) -> str:
        return _requalify(text, source, _TARGET)

    t = _TARGET
    other = _rows(
        cursor,
        "SELECT relname, relkind FROM pg_class WHERE relnamespace = %s "
        "AND relkind NOT IN ('r', 'i', 'S')",
        [nsp],
    )
    types = _rows(
        cursor,
        "SELECT typname FROM pg_type WHERE typnamespace = %s AND typtype <> 'b' "
        "AND NOT (typtype = 'c' AND typrelid IN (SELECT oid FROM pg_class WHERE "
        "relnamespace = %s AND relkind = 'r'))",
        [nsp, nsp],
    )
    if other or types:
        raise TemplateUnsupported(f"not cloned: {other + types}")

    statements: list[str] = []
    # Functions first: defaults, generated columns and triggers may call them.
    for (definition,) in _rows(
        cursor,
        "SELECT pg_get_functiondef(oid) FROM pg_proc WHERE pronamespace = %s "
        "AND prokind IN ('f', 'p') ORDER BY oid",
        [nsp],
    ):
        statements.append(req(definition))

    sequences = _rows(
        cursor,
        """SELECT c.relname, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement,
                  s.seqmin, s.seqmax, s.seqcache, s.seqcycle, a.attidentity,
                  (SELECT relname FROM pg_class WHERE oid = d.refobjid), a.attname
           FROM pg_class c JOIN pg_sequence s ON s.seqrelid = c.oid
           LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
                AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
           LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
           WHERE c.relnamespace = %s ORDER BY c.relname""",
        [nsp],
    )
    identity_options: dict[tuple[str, str], str] = {}
    owned: list[str] = []
    for name, typ, start, inc, lo, hi, cache, cycle, identity, table, column in sequences:
        options = (
            f"START WITH {start} INCREMENT BY {inc} MINVALUE {lo} MAXVALUE {hi} "
            f"CACHE {cache} {'CYCLE' if cycle else 'NO CYCLE'}"
        )
        if identity:
            identity_options[(table, column)] = f"SEQUENCE NAME {t}.{_quote(name)} {options}"
            continue
        statements.append(f"CREATE SEQUENCE {t}.{_quote(name)} AS {typ} {options}")
        if table:
            owned.append(
                f"ALTER SEQUENCE {t}.{_quote(name)} OWNED BY {t}.{_quote(table)}.{_quote(column)}"
            )

    tables = _rows(
        cursor,
        "SELECT oid, relname, relpersistence, reloptions, relrowsecurity, "
        "obj_description(oid, 'pg_class') FROM pg_class WHERE relnamespace = %s "
        "AND relkind = 'r' ORDER BY oid",
        [nsp],
    )
    not_null = {
        (relid, attnum): name
        for relid, attnum, name in _rows(
            cursor,
            "SELECT conrelid, conkey[1], conname FROM pg_constraint "
            "WHERE connamespace = %s AND contype = 'n'",
            [nsp],
        )
    }
    comments: list[str] = []
    data: list[str] = []
    for oid, table, persistence, reloptions, row_security, comment in tables:
        if row_security:
            raise TemplateUnsupported(f"row security on {table}")
        qualified = f"{t}.{_quote(table)}"
        columns = _rows(
            cursor,
            """SELECT a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                      a.attidentity, a.attgenerated, pg_get_expr(d.adbin, d.adrelid),
                      CASE WHEN a.attcollation <> ty.typcollation
                           THEN quote_ident(cn.nspname) || '.' || quote_ident(co.collname) END,
                      col_description(a.attrelid, a.attnum)
               FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid
               LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
               LEFT JOIN pg_collation co ON co.oid = a.attcollation
               LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
               WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped
               ORDER BY a.attnum""",
            [oid],
        )
        parts = []
        copied = []
        for attnum, name, typ, notnull, identity, generated, default, collation, note in columns:
            part = f"{_quote(name)} {req(typ)}"
            if collation:
                part += f" COLLATE {collation}"
            if generated:
                kind = "STORED" if generated == "s" else "VIRTUAL"
                part += f" GENERATED ALWAYS AS ({req(default)}) {kind}"
            elif identity:
                how = "ALWAYS" if identity == "a" else "BY DEFAULT"
                part += (
                    f" GENERATED {how} AS IDENTITY ({identity_options[(table, name)]})"
                    if (table, name) in identity_options
                    else f" GENERATED {how} AS IDENTITY"
                )
            elif default is not None:
                part += f" DEFAULT {req(default)}"
            if notnull:
                constraint = not_null.get((oid, attnum))
                part += f" CONSTRAINT {_quote(constraint)} NOT NULL" if constraint else " NOT NULL"
            parts.append(part)
            if not generated:
                copied.append(_quote(name))
            if note is not None:
                comments.append(f"COMMENT ON COLUMN {qualified}.{_quote(name)} IS {_literal(note)}")
        unlogged = "UNLOGGED " if persistence == "u" else ""
        with_options = f" WITH ({', '.join(reloptions)})" if reloptions else ""
        statements.append(f"CREATE {unlogged}TABLE {qualified} ({', '.join(parts)}){with_options}")
        if comment is not None:
            comments.append(f"COMMENT ON TABLE {qualified} IS {_literal(comment)}")
        exists = f"SELECT EXISTS (SELECT 1 FROM {_quote(source)}.{_quote(table)})"  # noqa: S608 - catalog names, quoted
        cursor.execute(exists)
        if cursor.fetchone()[0] and copied:
            columns_sql = ", ".join(copied)
            data.append(
                f"INSERT INTO {qualified} ({columns_sql}) OVERRIDING SYSTEM VALUE "  # noqa: S608 - catalog names, quoted
                f"SELECT {columns_sql} FROM {_quote(source)}.{_quote(table)}"
            )
    statements += owned + data
    for name, *_ in sequences:
        statements.append(
            f"SELECT setval('{t}.{_quote(name)}', last_value, is_called) "  # noqa: S608 - catalog names, quoted
            f"FROM {_quote(source)}.{_quote(name)}"
        )
    constraints = _rows(
        cursor,
        "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid) "
        "FROM pg_constraint WHERE connamespace = %s AND contype IN ('p', 'u', 'x', 'c', 'f') "
        "AND conrelid <> 0 ORDER BY contype = 'f', conrelid, conname",
        [nsp],
    )
    add = [
        f"ALTER TABLE {req(table)} ADD CONSTRAINT {_quote(name)} {req(definition)}"
        for table, name, contype, definition in constraints
    ]
    statements += [s for s, c in zip(add, constraints, strict=True) if c[2] != "f"]
    for (definition,) in _rows(
        cursor,
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace = %s "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid "
        "AND k.contype IN ('p', 'u', 'x')) ORDER BY c.relname",
        [nsp],
    ):
        statements.append(req(definition))
    statements += [s for s, c in zip(add, constraints, strict=True) if c[2] == "f"]
    for (definition,) in _rows(
        cursor,
        "SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE c.relnamespace = %s AND NOT t.tgisinternal ORDER BY t.tgname",
        [nsp],
    ):
        statements.append(req(definition))
    statements += comments
    return ";\n".join(statements)


def _with_public_search_path(cursor, work):
    cursor.execute("SELECT current_setting('search_path')")
    previous = cursor.fetchone()[0]
    cursor.execute("SET search_path = public")
    result = work()
    cursor.execute("SELECT set_config('search_path', %s, false)", [previous])
    return result


def clone_script(version: str) -> CloneScript:
    with _cache_lock:
        script = _cache.get(version)
        if script is None:
            with connection.cursor() as cursor:
                sql = _with_public_search_path(cursor, lambda: _clone_sql(cursor, TEMPLATE_SCHEMA))
            script = CloneScript(version, sql)
            _cache.clear()
            _cache[version] = script
        return script


def schema_clone(schema_name: str) -> None:
    """Create ``schema_name`` as a copy of the template (in the caller's transaction)."""
    version = template_state()
    if version != migrations_fingerprint():
        raise TemplateUnsupported("the template is missing or stale")
    script = clone_script(version)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {_quote(schema_name)}")
        _with_public_search_path(
            cursor, lambda: cursor.execute(script.sql.replace(_TARGET, _quote(schema_name)))
        )


def schema_create(schema_name: str, *, migrate) -> str:
    """Create an organization's schema: cloned when a fresh template exists, else by
    ``migrate()`` (the tenant migrations). Returns "cloned" or "migrated"."""
    if cloning_enabled():
        try:
            with transaction.atomic():
                schema_clone(schema_name)
            return "cloned"
        except TemplateUnsupported as exc:
            logger.warning("schema %s migrated, not cloned: %s", schema_name, exc)
    migrate()
    return "migrated"


# -- keeping the template ------------------------------------------------------


def schema_catalog(schema_name: str) -> dict[str, object]:
    """What a schema is made of, with its own name written as ``<schema>``: tables,
    columns (types, defaults, identity, generated, NOT NULL), constraints by name and
    definition, indexes with definitions, sequences with their state, triggers,
    functions, comments and the applied migrations. Two schemas built alike compare
    equal."""
    from django_tenants.utils import schema_context

    def req(text):
        return None if text is None else _requalify(text, schema_name, "<schema>")

    def read(cursor):
        nsp = _rows(cursor, "SELECT oid FROM pg_namespace WHERE nspname = %s", [schema_name])
        if not nsp:
            return {}
        nsp = nsp[0][0]
        catalog: dict[str, object] = {}
        catalog["relations"] = sorted(
            (name, kind, persistence, str(options))
            for name, kind, persistence, options in _rows(
                cursor,
                "SELECT relname, relkind, relpersistence, reloptions FROM pg_class "
                "WHERE relnamespace = %s",
                [nsp],
            )
        )
        catalog["columns"] = sorted(
            (table, name, typ, notnull, identity, generated, req(default), collation, note)
            for table, name, typ, notnull, identity, generated, default, collation, note in _rows(
                cursor,
                """SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                          a.attidentity, a.attgenerated, pg_get_expr(d.adbin, d.adrelid),
                          a.attcollation::regcollation::text, col_description(c.oid, a.attnum)
                   FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                   LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                   WHERE c.relnamespace = %s AND c.relkind = 'r' AND a.attnum > 0
                   AND NOT a.attisdropped""",
                [nsp],
            )
        )
        # Column order within each table (what SELECT * returns).
        catalog["column_order"] = sorted(
            _rows(
                cursor,
                "SELECT c.relname, string_agg(a.attname, ',' ORDER BY a.attnum) FROM pg_attribute a "
                "JOIN pg_class c ON c.oid = a.attrelid WHERE c.relnamespace = %s AND c.relkind = 'r' "
                "AND a.attnum > 0 AND NOT a.attisdropped GROUP BY c.relname",
                [nsp],
            )
        )
        catalog["constraints"] = sorted(
            (req(table), name, kind, req(definition), deferrable, deferred, validated)
            for table, name, kind, definition, deferrable, deferred, validated in _rows(
                cursor,
                "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid), "
                "condeferrable, condeferred, convalidated FROM pg_constraint WHERE connamespace = %s",
                [nsp],
            )
        )
        catalog["indexes"] = sorted(
            (name, req(definition))
            for name, definition in _rows(
                cursor,
                "SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_class c "
                "WHERE c.relnamespace = %s AND c.relkind = 'i'",
                [nsp],
            )
        )
        catalog["sequences"] = []
        for name, typ, start, inc, lo, hi, cache, cycle, owner in _rows(
            cursor,
            """SELECT c.relname, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement,
                      s.seqmin, s.seqmax, s.seqcache, s.seqcycle,
                      (SELECT d.refobjid::regclass::text || '.' || a.attname || ':' || d.deptype::text
                       FROM pg_depend d JOIN pg_attribute a ON a.attrelid = d.refobjid
                            AND a.attnum = d.refobjsubid
                       WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                       AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))
               FROM pg_class c JOIN pg_sequence s ON s.seqrelid = c.oid
               WHERE c.relnamespace = %s""",
            [nsp],
        ):
            state_sql = f"SELECT last_value, is_called FROM {_quote(schema_name)}.{_quote(name)}"  # noqa: S608 - catalog names, quoted
            cursor.execute(state_sql)
            state = cursor.fetchone()
            catalog["sequences"].append(
                (name, typ, start, inc, lo, hi, cache, cycle, req(owner), state)
            )
        catalog["sequences"].sort()
        catalog["triggers"] = sorted(
            (req(d),)
            for (d,) in _rows(
                cursor,
                "SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c "
                "ON c.oid = t.tgrelid WHERE c.relnamespace = %s AND NOT t.tgisinternal",
                [nsp],
            )
        )
        catalog["functions"] = sorted(
            (req(d),)
            for (d,) in _rows(
                cursor,
                "SELECT pg_get_functiondef(oid) FROM pg_proc WHERE pronamespace = %s "
                "AND prokind IN ('f', 'p')",
                [nsp],
            )
        )
        catalog["table_comments"] = sorted(
            _rows(
                cursor,
                "SELECT relname, obj_description(oid, 'pg_class') FROM pg_class "
                "WHERE relnamespace = %s AND obj_description(oid, 'pg_class') IS NOT NULL",
                [nsp],
            )
        )
        cursor.execute(
            f"SELECT app, name FROM {_quote(schema_name)}.django_migrations ORDER BY app, name"  # noqa: S608 - quoted
        )
        catalog["migrations"] = cursor.fetchall()
        return catalog

    with schema_context(settings.PUBLIC_SCHEMA_NAME), connection.cursor() as cursor:
        return _with_public_search_path(cursor, lambda: read(cursor))


def catalog_differences(a: dict, b: dict) -> list[str]:
    """Human-readable differences between two ``schema_catalog`` results."""
    out = []
    for key in sorted(set(a) | set(b)):
        left, right = set(map(tuple, a.get(key, []))), set(map(tuple, b.get(key, [])))
        out += [f"{key}: only in the first: {item}" for item in sorted(left - right, key=str)]
        out += [f"{key}: only in the second: {item}" for item in sorted(right - left, key=str)]
    return out


class _Rollback(Exception):
    pass


def _verify() -> list[str]:
    """Clone the template into a scratch schema, compare, roll it all back."""
    template = schema_catalog(TEMPLATE_SCHEMA)
    differences: list[str] = []
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                script = _with_public_search_path(
                    cursor, lambda: _clone_sql(cursor, TEMPLATE_SCHEMA)
                )
                cursor.execute(f"CREATE SCHEMA {_quote(CHECK_SCHEMA)}")
                _with_public_search_path(
                    cursor, lambda: cursor.execute(script.replace(_TARGET, _quote(CHECK_SCHEMA)))
                )
            differences = catalog_differences(template, schema_catalog(CHECK_SCHEMA))
            raise _Rollback
    except _Rollback:
        pass
    except TemplateUnsupported as exc:
        differences = [str(exc)]
    return differences


def template_ensure(*, force: bool = False, verbosity: int = 0) -> str:
    """Build the template if it is missing or stale. Returns "fresh" (nothing to do),
    "built", "unverified" (built, but a clone of it differs: not used) or "disabled"."""
    from django.core.management import call_command
    from django_tenants.utils import schema_context

    with schema_context(settings.PUBLIC_SCHEMA_NAME):
        if not cloning_enabled():
            return "disabled"
        fingerprint = migrations_fingerprint()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [_LOCK_KEY])
        try:
            if not force and template_state() == fingerprint:
                return "fresh"
            with connection.cursor() as cursor:
                cursor.execute(f"DROP SCHEMA IF EXISTS {_quote(TEMPLATE_SCHEMA)} CASCADE")
                cursor.execute(f"CREATE SCHEMA {_quote(TEMPLATE_SCHEMA)}")
            call_command(
                "migrate_schemas",
                schema_name=TEMPLATE_SCHEMA,
                tenant=True,
                executor="standard",
                interactive=False,
                verbosity=max(verbosity - 1, 0),
            )
            connection.set_schema_to_public()
            differences = _verify()
            if differences:
                logger.error(
                    "template schema not used: a clone differs from it:\n%s",
                    "\n".join(differences[:50]),
                )
                return "unverified"
            with connection.cursor() as cursor:
                cursor.execute(
                    f"COMMENT ON SCHEMA {_quote(TEMPLATE_SCHEMA)} IS {_literal(fingerprint)}"
                )
            return "built"
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [_LOCK_KEY])


def get_executor(codename=None):
    """django-tenants' migration executor (``GET_EXECUTOR_FUNCTION``) that refreshes the
    template after a run over all tenants (``migrate``, ``migrate_schemas``; not with
    ``--shared``, ``--schema``, ``--check``, ``--plan`` or ``--fake``)."""
    from django_tenants.migration_executors import get_executor as base_executor

    base = base_executor(codename)

    class TemplateKeepingExecutor(base):
        def run_migrations(self, tenants=None):
            tenants = list(tenants or [])
            read_only = any(self.options.get(o) for o in ("check_unapplied", "plan", "fake"))
            every_tenant = (
                not self.options.get("schema_name")
                and tenants != [self.PUBLIC_SCHEMA_NAME]
                and not read_only
            )
            super().run_migrations(tenants=tenants)
            if every_tenant:
                state = template_ensure(verbosity=int(self.options.get("verbosity", 1)))
                if int(self.options.get("verbosity", 1)) >= 1:
                    print(f"Template schema {TEMPLATE_SCHEMA}: {state}")

    TemplateKeepingExecutor.codename = base.codename
    return TemplateKeepingExecutor

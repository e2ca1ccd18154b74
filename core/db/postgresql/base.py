"""PostgreSQL as Django's backend, with migrations that Citus can run.

django-tenants wraps this backend (``ORIGINAL_BACKEND``, config/settings/database.py).
The one difference from Django's: on a database with the Citus extension (the
scale-out path, docs/scale-out.md), a column added with a CHECK constraint gets the
constraint's name spelled out. Citus refuses ``ALTER TABLE ... ADD COLUMN ... CHECK``
on a distributed table unless every constraint is named ("all constraints in Citus
must have explicit names"); Django leaves naming to PostgreSQL there. Without Citus
nothing changes, so existing databases keep their constraint names.

The second: a pooled connection (the web server, ADR 0021) is taken through a circuit
breaker, so that while PostgreSQL is down a request fails at once (503) instead of
waiting ``DB_POOL_TIMEOUT`` in the pool for a connection that cannot come (ADR 0058).
"""

import threading
import time

import psycopg
from django.db.backends.base.base import NO_DB_ALIAS
from django.db.backends.postgresql import base, schema
from psycopg_pool import ConnectionPool, PoolTimeout

# The pool is asked for at most this long before the circuit checks whether PostgreSQL
# answers at all: a busy pool (every connection lent) is waited for up to the pool's
# timeout; an unreachable server is not.
CIRCUIT_FIRST_WAIT_SECONDS = 0.5
# How long a failed check keeps the circuit open (requests fail at once), and how long a
# check's answer is reused by the requests arriving meanwhile. Short: a server that is
# back is noticed this soon (a refused connection costs a millisecond to find out).
CIRCUIT_OPEN_SECONDS = 0.25
# A check is one new connection with this connect timeout (refused at once when the
# server is down; a host that does not answer costs this long, once per period).
CIRCUIT_CHECK_TIMEOUT_SECONDS = 2


class DatabaseUnreachable(PoolTimeout):
    """PostgreSQL did not accept a connection a moment ago; the pool is not waited for.
    A PoolTimeout (an OperationalError without a SQLSTATE): the API answers 503."""


class Circuit:
    """Closed while PostgreSQL answers; open (fail at once) for ``CIRCUIT_OPEN_SECONDS``
    after a check found it unreachable; then the next caller checks again (half-open),
    one at a time, and the callers meanwhile reuse that answer."""

    def __init__(self, connect_kwargs: dict):
        self.connect_kwargs = connect_kwargs
        self.open_until = 0.0
        self.checked_at = -1e9
        self.reachable = True
        self.lock = threading.Lock()

    def check(self) -> bool:
        """Whether PostgreSQL accepts a connection (one check per period per process)."""
        with self.lock:
            if time.monotonic() - self.checked_at < CIRCUIT_OPEN_SECONDS:
                return self.reachable
            try:
                psycopg.connect(
                    **self.connect_kwargs, connect_timeout=CIRCUIT_CHECK_TIMEOUT_SECONDS
                ).close()
                self.reachable = True
            except psycopg.Error:
                self.reachable = False
            self.checked_at = time.monotonic()
            self.open_until = 0.0 if self.reachable else self.checked_at + CIRCUIT_OPEN_SECONDS
            return self.reachable

    def refuse_if_open(self) -> None:
        if self.open_until == 0.0:
            return  # closed: the usual case costs one comparison
        if time.monotonic() < self.open_until or not self.check():
            raise DatabaseUnreachable("PostgreSQL is unreachable (checked a moment ago)")


class CircuitConnectionPool(ConnectionPool):
    """psycopg's pool with a ``Circuit`` in front of ``getconn``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.circuit = Circuit(
            {k: v for k, v in self.kwargs.items() if k not in ("autocommit", "connect_timeout")}
        )

    def getconn(self, timeout: float | None = None):
        timeout = self.timeout if timeout is None else timeout
        self.circuit.refuse_if_open()
        first = min(timeout, CIRCUIT_FIRST_WAIT_SECONDS)
        try:
            return super().getconn(timeout=first)
        except PoolTimeout:
            if timeout <= first or not self.circuit.check():
                raise DatabaseUnreachable(
                    "PostgreSQL is unreachable (no pooled connection, a new one refused)"
                ) from None
        return super().getconn(timeout=timeout - first)  # busy, not down: wait the rest


class DatabaseSchemaEditor(schema.DatabaseSchemaEditor):
    def add_field(self, model, field):
        if not self.connection.has_citus:
            return super().add_field(model, field)
        name = self._create_index_name(model._meta.db_table, [field.column], suffix="_check")
        self.sql_check_constraint = f"CONSTRAINT {self.quote_name(name)} CHECK (%(check)s)"
        try:
            return super().add_field(model, field)
        finally:
            del self.sql_check_constraint  # back to the class's unnamed form


class DatabaseWrapper(base.DatabaseWrapper):
    SchemaEditorClass = DatabaseSchemaEditor

    @property
    def pool(self):
        """Django's pool (``OPTIONS["pool"]``) built as a ``CircuitConnectionPool``: the
        same arguments as Django's own property, which then finds it and returns it."""
        options = self.settings_dict["OPTIONS"].get("pool")
        if options and self.alias != NO_DB_ALIAS and self.alias not in self._connection_pools:
            if self.settings_dict.get("CONN_MAX_AGE", 0) != 0:
                return super().pool  # Django's error for pooled persistent connections
            connect_kwargs = self.get_connection_params()
            connect_kwargs["autocommit"] = True
            pool = CircuitConnectionPool(
                kwargs=connect_kwargs,
                open=False,
                configure=self._configure_connection,
                check=ConnectionPool.check_connection
                if self.settings_dict["CONN_HEALTH_CHECKS"]
                else None,
                **({} if options is True else options),
            )
            self._connection_pools.setdefault(self.alias, pool)
        return super().pool

    @property
    def has_citus(self) -> bool:
        if getattr(self, "_has_citus", None) is None:
            with self.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'citus'")
                self._has_citus = cursor.fetchone() is not None
        return self._has_citus

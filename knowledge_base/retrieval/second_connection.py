"""Database work run beside the caller's, on a second connection (ADR 0114).

PostgreSQL runs one statement at a time per connection, so a hybrid search's two halves
can only overlap on two connections: the keyword rounds run on the caller's, the vector
half (wait for the query embedding, then the HNSW search) on a helper thread's. Neither
half needs the other until fusion.

Not used inside a transaction of the caller: a second connection would not see the
transaction's uncommitted rows (the test suite runs each test in one), and a caller in a
transaction asked for one consistent view. ``KNOWLEDGE_SEARCH_SECOND_CONNECTION=false``
turns it off (everything on the caller's connection, one statement after another).

The helper's connection: with a connection pool (the web server, ADR 0021) it is taken
from the pool for each call and given back after it (django-tenants then sets the search
path again: one round trip, on the helper's side). Without one (commands, Celery workers,
benchmarks) the helper thread keeps its connection open between calls, like a persistent
connection; it is closed after any error, and a call that finds the connection it kept
from an earlier call lost (the server dropped it while idle, or restarted) is tried once
more on a new one: the work given here only reads.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections

T = TypeVar("T")

# As many as the query-embedding helpers (gateway.EMBED_AHEAD_THREADS): a search holds
# one for a few milliseconds, more threads than cores would wait anyway, and a search
# that finds them all busy waits its turn.
THREADS = 4

_executor: ThreadPoolExecutor | None = None
_lock = threading.Lock()
_wrappers: set = set()  # the helper threads' connection wrappers, to close them


def available() -> bool:
    """Whether work may go to a second connection now (see the module docstring)."""
    return settings.KNOWLEDGE_SEARCH_SECOND_CONNECTION and not connection.in_atomic_block


def submit(work: Callable[[], T]) -> Future:
    """Run ``work`` on a helper thread's connection, in the caller's tenant schema.
    The future holds its result, or its exception."""
    tenant, include_public = connection.tenant, connection.include_public_schema
    with _lock:
        global _executor
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="search")
        return _executor.submit(_run, work, tenant, include_public)


def _pooled() -> bool:
    return bool(settings.DATABASES[DEFAULT_DB_ALIAS].get("OPTIONS", {}).get("pool"))


def _run(work: Callable[[], T], tenant, include_public: bool) -> T:
    wrapper = connections[DEFAULT_DB_ALIAS]  # this thread's own
    with _lock:
        _wrappers.add(wrapper)
    pooled = _pooled()
    for attempt in (1, 2):
        reused = wrapper.connection is not None
        if wrapper.schema_name != tenant.schema_name or (
            wrapper.include_public_schema != include_public
        ):
            wrapper.set_tenant(tenant, include_public)
        try:
            return work()
        except BaseException:
            raw = wrapper.connection
            lost = raw is not None and (raw.closed or raw.broken)
            wrapper.close()  # never reused after an error
            if not (lost and reused and not pooled and attempt == 1):
                raise
        finally:
            if pooled:
                wrapper.close()  # back to the pool
    raise AssertionError("unreachable")


def close_connections() -> None:
    """Stop the helper threads and close their connections (tests that used them, and
    anything that must leave no connection open, e.g. before dropping a database)."""
    global _executor
    with _lock:
        executor, _executor = _executor, None
    if executor is not None:
        executor.shutdown(wait=True)
    with _lock:
        wrappers = list(_wrappers)
        _wrappers.clear()
    for wrapper in wrappers:
        wrapper.inc_thread_sharing()  # its thread has ended: close it from this one
        try:
            wrapper.close()
        finally:
            wrapper.dec_thread_sharing()


def _forget_in_child() -> None:
    # A forked child has none of its parent's threads, and must not close the parent's
    # connections (that would end the parent's sessions): it starts afresh.
    global _executor, _lock, _wrappers
    _executor, _lock, _wrappers = None, threading.Lock(), set()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)

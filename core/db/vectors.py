"""Vectors written to PostgreSQL in pgvector's binary form.

Django's PostgreSQL backend interpolates parameters on the client (psycopg's
``ClientCursor``), so a vector travels as text: 384 floats printed in Python and parsed
again by ``vector_in``, ~0.4 ms of CPU per vector on the two sides together (a third of
a second per 1,000 messages indexed). ``execute_with_vectors`` runs one statement on the
same connection and transaction through a server-binding cursor, where a ``%b``
parameter holding numpy arrays is sent in pgvector's binary format (``vector_recv``):
the same float32 values, without printing or parsing them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import psycopg
from django.db import connection
from pgvector.psycopg import register_vector


def vector_rows(vectors: Sequence[Sequence[float]]) -> list[np.ndarray]:
    """``vectors`` as float32 rows: pass them (a list) as a ``%b`` parameter, which
    psycopg sends as a binary ``vector[]``."""
    return list(np.asarray(vectors, dtype=np.float32))


def execute_with_vectors(sql: str, params: Sequence) -> int:
    """Run ``sql`` (``%s`` for plain parameters, ``%b`` for ``vector_rows``) on Django's
    connection, in its current transaction; returns the row count.

    The statement bypasses Django's execute wrappers (statement logging and counting):
    use it for bulk writes of vectors, not for reads a test would count."""
    with connection.cursor() as django_cursor:  # connected, search_path set (tenants)
        raw = django_cursor.cursor.connection
        if raw.adapters.types.get("vector") is None:
            register_vector(raw)  # once per connection: one catalog lookup
        with psycopg.Cursor(raw) as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount

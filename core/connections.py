"""Database connections of long-lived async work (streams, WebSockets)."""

from django.db import connection


def release_connection() -> None:
    """Close this thread's database connection (outside transactions only: a test
    runs inside one and must keep it)."""
    if not connection.in_atomic_block:
        connection.close()

"""Highlighted snippets of the hits (ts_headline)."""

from __future__ import annotations

from django.db import connection

from knowledge_base.models import TEXT_SEARCH_CONFIG
from knowledge_base.retrieval.hits import Hit
from knowledge_base.retrieval.keyword import tsquery_sql

SNIPPET_OPTIONS = "StartSel=<mark>, StopSel=</mark>, MaxWords=40, MinWords=15, MaxFragments=2"


def add_snippets(hits: list[Hit], query: str) -> None:
    """Highlight query words in each hit (ts_headline), in one round trip."""
    if not hits:
        return
    sql = (
        # Only module constants are interpolated; values are parameters.
        f"SELECT c.id, ts_headline('{TEXT_SEARCH_CONFIG}', c.content, "  # noqa: S608
        f"{tsquery_sql(query)}, %s) "
        "FROM knowledge_base_documentchunk c WHERE c.id = ANY(%s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [query, SNIPPET_OPTIONS, [h.chunk_id for h in hits]])
        snippets = dict(cursor.fetchall())
    for hit in hits:
        hit.snippet = snippets.get(hit.chunk_id, "") or hit.text[:300]

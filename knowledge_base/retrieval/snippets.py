"""Highlighted snippets of the hits (ts_headline), in each chunk's collection language."""

from __future__ import annotations

from django.db import connection

from knowledge_base.retrieval.hits import Hit
from knowledge_base.retrieval.keyword import ranking_text, uses_websearch_syntax

SNIPPET_OPTIONS = "StartSel=<mark>, StopSel=</mark>, MaxWords=40, MinWords=15, MaxFragments=2"

_CONFIG = "col.language::regconfig"
_QUERY = "CASE WHEN col.unaccent THEN public.unaccent(%s) ELSE %s END"


def add_snippets(hits: list[Hit], query: str) -> None:
    """Highlight query words in each hit (ts_headline), in one round trip."""
    if not hits:
        return
    if uses_websearch_syntax(query):
        tsquery = f"websearch_to_tsquery({_CONFIG}, {_QUERY})"
    else:
        tsquery = f"replace(plainto_tsquery({_CONFIG}, {_QUERY})::text, ' & ', ' | ')::tsquery"
    text = query if uses_websearch_syntax(query) else ranking_text(query)
    sql = (
        # Only module constants are interpolated; values are parameters.
        f"SELECT c.id, ts_headline({_CONFIG}, c.content, {tsquery}, %s) "  # noqa: S608
        "FROM knowledge_base_documentchunk c "
        "JOIN knowledge_base_collection col ON col.id = c.collection_id WHERE c.id = ANY(%s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [text, text, SNIPPET_OPTIONS, [h.chunk_id for h in hits]])
        snippets = dict(cursor.fetchall())
    for hit in hits:
        hit.snippet = snippets.get(hit.chunk_id, "") or hit.text[:300]

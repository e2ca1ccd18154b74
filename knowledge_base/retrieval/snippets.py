"""Highlighted snippets of the hits (ts_headline), in each chunk's collection language."""

from __future__ import annotations

from knowledge_base.retrieval.keyword import ranking_text, uses_websearch_syntax

SNIPPET_OPTIONS = "StartSel=<mark>, StopSel=</mark>, MaxWords=40, MinWords=15, MaxFragments=2"

_CONFIG = "col.language::regconfig"
_QUERY = "CASE WHEN col.unaccent THEN public.unaccent(%s) ELSE %s END"


def snippet_sql(query: str) -> tuple[str, list]:
    """The snippet of chunk ``c`` (of collection ``col``) for ``query``, as a column
    expression and its parameters: the query's words highlighted (ts_headline)."""
    if uses_websearch_syntax(query):
        tsquery = f"websearch_to_tsquery({_CONFIG}, {_QUERY})"
    else:
        tsquery = f"replace(plainto_tsquery({_CONFIG}, {_QUERY})::text, ' & ', ' | ')::tsquery"
    text = query if uses_websearch_syntax(query) else ranking_text(query)
    return f"ts_headline({_CONFIG}, c.content, {tsquery}, %s)", [text, text, SNIPPET_OPTIONS]

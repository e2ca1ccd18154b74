"""What a search shows of its hits, read once for the hits it returns."""

from __future__ import annotations

from django.db import connection

from knowledge_base.retrieval.hits import Hit
from knowledge_base.retrieval.snippets import snippet_sql


def hydrate(hits: list[Hit], *, snippets_for: str | None = None) -> list[Hit]:
    """Read the text, title, page and section of ``hits`` (and, given the query, their
    highlighted snippets) in one statement; hits whose chunk is gone meanwhile are
    dropped. Returns the hits, in their order."""
    if not hits:
        return hits
    snippet, snippet_params = snippet_sql(snippets_for) if snippets_for is not None else ("''", [])
    sql = (
        # Only module constants are interpolated; values are parameters.
        "SELECT c.id, c.document_id, c.collection_id, d.title, c.content, c.page_number, "  # noqa: S608
        f"c.section_title, (c.metadata->>'page_end')::int, {snippet} "
        "FROM knowledge_base_documentchunk c "
        "JOIN knowledge_base_document d ON d.id = c.document_id "
        "JOIN knowledge_base_collection col ON col.id = c.collection_id "
        "WHERE c.id = ANY(%s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*snippet_params, [h.chunk_id for h in hits]])
        rows = {row[0]: row for row in cursor.fetchall()}
    kept = []
    for hit in hits:
        row = rows.get(hit.chunk_id)
        if row is None:
            continue
        hit.document_id, hit.collection_id = str(row[1]), str(row[2])
        hit.document_title, hit.text, hit.page, hit.section = row[3], row[4], row[5], row[6] or ""
        hit.page_end = row[7] if row[7] is not None else row[5]
        if snippets_for is not None:
            hit.snippet = row[8] or hit.text[:300]
        kept.append(hit)
    return kept

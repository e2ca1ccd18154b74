"""What a search shows of its hits, read once for the hits it returns.

In a parent-child collection (ADR 0103) each hit also gets the section it was cut from,
in the same statement. Parents are neither embedded nor indexed, so they never compete in
a search: the children are ranked, and only the hits returned read their parents (a join
in every candidate query would read parents for hundreds of candidates thrown away).
"""

from __future__ import annotations

from django.db import connection

from knowledge_base.retrieval.hits import Hit, ParentSection
from knowledge_base.retrieval.snippets import snippet_sql

_PARENT_COLUMNS = (
    "s.id, s.content, s.token_count, s.page_number, s.page_end, s.section_title, "
    "(c.metadata->>'parent_start')::int, (c.metadata->>'parent_end')::int"
)


def hydrate(
    hits: list[Hit], *, snippets_for: str | None = None, parents: bool = False
) -> list[Hit]:
    """Read the text, title, page and section of ``hits`` (given the query, their
    highlighted snippets; with ``parents``, their parent sections) in one statement;
    hits whose chunk is gone meanwhile are dropped. Returns the hits, in their order."""
    if not hits:
        return hits
    snippet, snippet_params = snippet_sql(snippets_for) if snippets_for is not None else ("''", [])
    parent_columns = _PARENT_COLUMNS if parents else "NULL"
    parent_join = (
        "LEFT JOIN knowledge_base_documentsection s ON s.id = c.parent_id " if parents else ""
    )
    sql = (
        # Only module constants are interpolated; values are parameters.
        "SELECT c.id, c.document_id, c.collection_id, d.title, c.content, c.page_number, "  # noqa: S608
        f"c.section_title, (c.metadata->>'page_end')::int, {snippet}, {parent_columns} "
        "FROM knowledge_base_documentchunk c "
        "JOIN knowledge_base_document d ON d.id = c.document_id "
        "JOIN knowledge_base_collection col ON col.id = c.collection_id "
        f"{parent_join}"
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
        if parents:
            hit.parent = _parent(row[9:])
        kept.append(hit)
    return kept


def _parent(columns: tuple) -> ParentSection | None:
    section_id, text, tokens, page, page_end, title, child_start, child_end = columns
    if section_id is None:
        return None
    return ParentSection(
        id=section_id,
        text=text,
        token_count=tokens,
        page=page,
        page_end=page_end if page_end is not None else page,
        section=title or "",
        child_start=child_start,
        child_end=child_end,
    )

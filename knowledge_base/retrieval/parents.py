"""The parent sections of parent-child hits (ADR 0103), read once the hits are final.

Parents are neither embedded nor indexed, so they never compete in a search: the
children are ranked, then each hit that has a parent gets it here, in one statement
for all hits (a join in every candidate query would read parents for hundreds of
candidates that are thrown away).
"""

from __future__ import annotations

from django.db import connection

from knowledge_base.retrieval.hits import Hit, ParentSection

_SQL = """
    SELECT c.id, s.id, s.content, s.token_count, s.page_number, s.page_end, s.section_title,
           (c.metadata->>'parent_start')::int, (c.metadata->>'parent_end')::int
    FROM knowledge_base_documentchunk c
    JOIN knowledge_base_documentsection s ON s.id = c.parent_id
    WHERE c.id = ANY(%s)
"""


def add_parents(hits: list[Hit]) -> None:
    """Set ``hit.parent`` on every hit whose chunk has a parent section."""
    if not hits:
        return
    with connection.cursor() as cursor:
        cursor.execute(_SQL, [[hit.chunk_id for hit in hits]])
        found = {
            row[0]: ParentSection(
                id=row[1],
                text=row[2],
                token_count=row[3],
                page=row[4],
                page_end=row[5] if row[5] is not None else row[4],
                section=row[6] or "",
                child_start=row[7],
                child_end=row[8],
            )
            for row in cursor.fetchall()
        }
    for hit in hits:
        hit.parent = found.get(hit.chunk_id)

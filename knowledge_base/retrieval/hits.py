"""What a search returns (``Hit``), how it is narrowed (``SearchFilters``), and the
SQL every search mode shares to read chunks of completed documents.

Candidates are ranked on ids and scores only (``CANDIDATE_SELECT``); the text, title,
page and snippet are read once, for the hits actually returned (hydration.py): a hybrid
search ranks 80 candidates to return 10, and reading every candidate's text cost more
than ranking them (ADR 0102, addendum)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SearchFilters:
    documents: list = field(default_factory=list)
    metadata: dict = field(default_factory=dict)  # chunk or document metadata containment


@dataclass(frozen=True)
class ParentSection:
    """The section a parent-child chunk was cut from (ADR 0103): what the model reads.
    The hit's own text is ``text[child_start:child_end]`` (None when not located)."""

    id: int
    text: str
    token_count: int
    page: int | None
    page_end: int | None
    section: str
    child_start: int | None
    child_end: int | None


@dataclass
class Hit:
    chunk_id: int
    document_id: str
    document_title: str
    collection_id: str
    text: str
    page: int | None
    section: str
    score: float
    snippet: str = ""
    vector_rank: int | None = None
    keyword_rank: int | None = None
    page_end: int | None = None  # last page of the chunk (PDF): its range is page..page_end
    similarity: float | None = None  # cosine similarity to the query, when computed
    rerank_score: float | None = None  # the reranker's relevance score, when reranked
    parent: ParentSection | None = None  # parent-child collections: the enclosing section

    @property
    def context_text(self) -> str:
        """What a model should read for this hit: the parent section, else the chunk."""
        return self.parent.text if self.parent is not None else self.text


BASE_SELECT = """
    SELECT c.id, c.document_id, d.title, c.collection_id, c.content, c.page_number,
           c.section_title, {score} AS score, (c.metadata->>'page_end')::int AS page_end
    FROM knowledge_base_documentchunk c
    JOIN knowledge_base_document d ON d.id = c.document_id
    WHERE d.status = 'completed' AND c.collection_id = ANY(%s::uuid[]) {filters}
"""


# Ranking only: which chunk, where, how good.
CANDIDATE_SELECT = """
    SELECT c.id, c.document_id, c.collection_id, {score} AS score
    FROM knowledge_base_documentchunk c
    JOIN knowledge_base_document d ON d.id = c.document_id
    WHERE d.status = 'completed' AND c.collection_id = ANY(%s::uuid[]) {filters}
"""


def filter_sql(filters: SearchFilters) -> tuple[str, list]:
    sql, params = [], []
    if filters.documents:
        sql.append("AND c.document_id = ANY(%s::uuid[])")
        params.append([str(d) for d in filters.documents])
    if filters.metadata:
        sql.append("AND (c.metadata @> %s::jsonb OR d.metadata @> %s::jsonb)")
        params += [json.dumps(filters.metadata)] * 2
    return " ".join(sql), params


def rows_to_hits(rows) -> list[Hit]:
    return [
        Hit(
            chunk_id=r[0],
            document_id=str(r[1]),
            document_title=r[2],
            collection_id=str(r[3]),
            text=r[4],
            page=r[5],
            section=r[6] or "",
            score=float(r[7]),
            page_end=r[8] if r[8] is not None else r[5],
        )
        for r in rows
    ]


def rows_to_candidates(rows) -> list[Hit]:
    """Hits from ``CANDIDATE_SELECT`` rows: located and scored, their text not read yet."""
    return [
        Hit(
            chunk_id=r[0],
            document_id=str(r[1]),
            document_title="",
            collection_id=str(r[2]),
            text="",
            page=None,
            section="",
            score=float(r[3]),
        )
        for r in rows
    ]

"""The keyword index of chunks and its BM25 statistics, kept incrementally (ADR 0023).

A chunk's ``search_vector`` is its document's title (weight A), its section heading (B)
and its text (D) in the collection's text-search language, unaccented when the
collection says so; ``search_length`` (lexeme positions) is BM25's document length.

The statistics BM25 needs are kept per collection in the same transaction that writes
or deletes chunks: ``CollectionTerm`` (chunks containing each lexeme, and bounds of one
chunk's score for it) and the collection's ``text_chunks`` / ``text_length``. A search
then reads them with one index lookup instead of counting the GIN index per query word.
``ChunkTerm`` holds the postings (term, chunk, frequency, length) that keyword search
scores from (ADR 0062). Every writer takes the collection row's lock first, so
concurrent documents of one collection update the statistics one after another (no lost
update, no deadlock between term rows).
"""

from __future__ import annotations

from django.db import connection

# Title and heading words (weights A and B in the search vector) count twice: a word in
# the title says more about the chunk than one mention in its text.
HEADER_BOOST = 1
# BM25's term frequency of ``u`` (a row of unnest(search_vector)): its positions, plus
# HEADER_BOOST per position in the title or heading.
_HEADER_POSITIONS = "(SELECT count(*) FROM unnest(u.weights) w WHERE w IN ('A', 'B'))"
FREQUENCY_SQL = f"least(cardinality(u.positions) + {HEADER_BOOST} * {_HEADER_POSITIONS}, 32767)"


def text_expression(value: str, collection: str = "col") -> str:
    """SQL for ``value`` (an SQL expression) unaccented when the collection asks for it."""
    return f"(CASE WHEN {collection}.unaccent THEN public.unaccent({value}) ELSE {value} END)"


def _vector_sql(where: str) -> str:
    config = "col.language::regconfig"
    title = text_expression("coalesce(d.title, '')")
    section = text_expression("coalesce(c.section_title, '')")
    content = text_expression("c.content")
    return f"""
        UPDATE knowledge_base_documentchunk c
        SET search_vector = v.vector,
            search_length = coalesce(
                (SELECT sum(cardinality(u.positions)) FROM unnest(v.vector) u), 0)
        FROM (
            SELECT c.id,
                   setweight(to_tsvector({config}, {title}), 'A')
                   || setweight(to_tsvector({config}, {section}), 'B')
                   || to_tsvector({config}, {content}) AS vector
            FROM knowledge_base_documentchunk c
            JOIN knowledge_base_document d ON d.id = c.document_id
            JOIN knowledge_base_collection col ON col.id = c.collection_id
            WHERE {where}
        ) v
        WHERE c.id = v.id
    """  # noqa: S608 - only constants are interpolated


_TERMS = f"""
    SELECT c.collection_id, u.lexeme, count(*) AS n, max({FREQUENCY_SQL}) AS frequency,
           min(c.search_length) AS length
    FROM knowledge_base_documentchunk c, unnest(c.search_vector) u
    WHERE {{where}}
    GROUP BY 1, 2
"""  # noqa: S608 - constants only

# The (term, chunk) pairs of the chunks selected by ``where``: their postings' keys.
_POSTING_KEYS = """
    SELECT t.id, c.id
    FROM knowledge_base_documentchunk c
    CROSS JOIN LATERAL unnest(c.search_vector) u
    JOIN knowledge_base_collectionterm t
      ON t.collection_id = c.collection_id AND t.lexeme = u.lexeme
    WHERE {where}
"""

_TOTALS = """
    SELECT c.collection_id, count(*), coalesce(sum(c.search_length), 0)
    FROM knowledge_base_documentchunk c WHERE {where} GROUP BY 1
"""


def _lock_collections(cursor, where: str, params: list) -> None:
    sql = (
        "SELECT id FROM knowledge_base_collection WHERE id IN "  # noqa: S608 - constants only
        f"(SELECT DISTINCT collection_id FROM knowledge_base_documentchunk c WHERE {where}) "
        "ORDER BY id FOR UPDATE"
    )
    cursor.execute(sql, params)


def _add(cursor, where: str, params: list, *, bulk: bool = False) -> None:
    _lock_collections(cursor, where, params)
    cursor.execute(
        f"""
        INSERT INTO knowledge_base_collectionterm
            (collection_id, lexeme, chunks, max_frequency, min_length)
        SELECT collection_id, lexeme, n, frequency, length FROM ({_TERMS.format(where=where)}) t
        ORDER BY collection_id, lexeme
        ON CONFLICT (collection_id, lexeme)
        DO UPDATE SET
            chunks = knowledge_base_collectionterm.chunks + EXCLUDED.chunks,
            max_frequency = greatest(
                knowledge_base_collectionterm.max_frequency, EXCLUDED.max_frequency),
            min_length = CASE WHEN knowledge_base_collectionterm.chunks = 0
                THEN EXCLUDED.min_length
                ELSE least(knowledge_base_collectionterm.min_length, EXCLUDED.min_length) END
        """,  # noqa: S608
        params,
    )
    if bulk:
        # A whole collection: the planner must know the term rows just written (a hash
        # join on them), and postings written in key order fill the primary key's pages
        # one after another instead of splitting them at random.
        cursor.execute("ANALYZE knowledge_base_collectionterm")
        cursor.execute("SET LOCAL work_mem = '256MB'")
    cursor.execute(
        f"""
        INSERT INTO knowledge_base_chunkterm (term_id, chunk_id, frequency, length)
        SELECT t.id, c.id, {FREQUENCY_SQL}, c.search_length
        FROM knowledge_base_documentchunk c
        CROSS JOIN LATERAL unnest(c.search_vector) u
        JOIN knowledge_base_collectionterm t
          ON t.collection_id = c.collection_id AND t.lexeme = u.lexeme
        WHERE {where}
        {"ORDER BY t.id, c.id" if bulk else ""}
        """,  # noqa: S608
        params,
    )
    cursor.execute(
        f"""
        UPDATE knowledge_base_collection col
        SET text_chunks = col.text_chunks + t.n, text_length = col.text_length + t.length
        FROM ({_TOTALS.format(where=where)}) t (collection_id, n, length)
        WHERE col.id = t.collection_id
        """,  # noqa: S608
        params,
    )


def _remove(cursor, where: str, params: list) -> None:
    _lock_collections(cursor, where, params)
    cursor.execute(
        "DELETE FROM knowledge_base_chunkterm WHERE (term_id, chunk_id) IN "  # noqa: S608
        f"({_POSTING_KEYS.format(where=where)})",
        params,
    )
    cursor.execute(
        f"""
        UPDATE knowledge_base_collectionterm s SET chunks = s.chunks - t.n
        FROM ({_TERMS.format(where=where)}) t
        WHERE s.collection_id = t.collection_id AND s.lexeme = t.lexeme
        """,  # noqa: S608
        params,
    )
    cursor.execute(
        f"""
        DELETE FROM knowledge_base_collectionterm
        WHERE chunks <= 0 AND collection_id IN (
            SELECT DISTINCT collection_id FROM knowledge_base_documentchunk c WHERE {where})
        """,  # noqa: S608
        params,
    )
    cursor.execute(
        f"""
        UPDATE knowledge_base_collection col
        SET text_chunks = greatest(col.text_chunks - t.n, 0),
            text_length = greatest(col.text_length - t.length, 0)
        FROM ({_TOTALS.format(where=where)}) t (collection_id, n, length)
        WHERE col.id = t.collection_id
        """,  # noqa: S608
        params,
    )


def document_chunks_indexed(document_id) -> None:
    """After a document's chunks are written: their search vectors, and their words
    added to the collection's statistics. Call inside the writing transaction."""
    where, params = "c.document_id = %s", [str(document_id)]
    with connection.cursor() as cursor:
        cursor.execute(_vector_sql(where), params)
        _add(cursor, where, params)


def document_chunks_removed(document_id) -> None:
    """Before a document's chunks are deleted: their words leave the statistics.
    Call inside the deleting transaction."""
    with connection.cursor() as cursor:
        _remove(cursor, "c.document_id = %s", [str(document_id)])


def collection_reindex(collection_id) -> None:
    """Every chunk's search vector and the collection's statistics from scratch (bulk
    loads such as bench/search.py's, and the migration that introduced them)."""
    where, params = "c.collection_id = %s", [str(collection_id)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM knowledge_base_collection WHERE id = %s FOR UPDATE", params)
        _delete_postings(cursor, collection_id)
        cursor.execute("DELETE FROM knowledge_base_collectionterm WHERE collection_id = %s", params)
        cursor.execute(
            "UPDATE knowledge_base_collection SET text_chunks = 0, text_length = 0 WHERE id = %s",
            params,
        )
        cursor.execute(_vector_sql(where), params)
        _add(cursor, where, params, bulk=True)


def _delete_postings(cursor, collection_id) -> None:
    cursor.execute(
        "DELETE FROM knowledge_base_chunkterm WHERE term_id IN "
        "(SELECT id FROM knowledge_base_collectionterm WHERE collection_id = %s)",
        [str(collection_id)],
    )


def collection_postings_removed(collection_id) -> None:
    """Before a collection is deleted: its postings, by term (the primary key's prefix)."""
    with connection.cursor() as cursor:
        _delete_postings(cursor, collection_id)

"""One partial HNSW index per embedding dimension in use (see models.py).

pgvector indexes ``vector`` up to 2,000 dimensions; above that (3,072 for
text-embedding-3-large and gemini-embedding-001) the index is built on a
``halfvec`` cast, which pgvector indexes up to 4,000 dimensions. Queries must
use exactly the same expression and predicate for the planner to pick the
index: ``vector_order_sql`` returns them.
"""

from django.db import connection

from core.tenancy import require_tenant_schema

TABLE = "knowledge_base_documentchunk"
MAX_VECTOR_INDEX_DIMENSIONS = 2000
MAX_DIMENSIONS = 4000
# Dimensions of the catalog's embedding models, indexed by the migration; others
# get their index when a collection first uses them.
STANDARD_DIMENSIONS = (384, 768, 1536, 3072)


def _cast(dimensions: int) -> tuple[str, str]:
    if dimensions <= MAX_VECTOR_INDEX_DIMENSIONS:
        return f"vector({dimensions})", "vector_cosine_ops"
    return f"halfvec({dimensions})", "halfvec_cosine_ops"


def index_name(dimensions: int) -> str:
    return f"chunk_embedding_hnsw_{dimensions}"


def create_index_sql(dimensions: int) -> str:
    if not 0 < dimensions <= MAX_DIMENSIONS:
        raise ValueError(
            f"Embeddings of {dimensions} dimensions cannot be indexed (max {MAX_DIMENSIONS})."
        )
    cast, ops = _cast(dimensions)
    return (
        f"CREATE INDEX IF NOT EXISTS {index_name(dimensions)} ON {TABLE} "
        f"USING hnsw ((embedding::{cast}) {ops}) WITH (m = 16, ef_construction = 64) "
        f"WHERE embedding_dimensions = {int(dimensions)}"
    )


def ensure_vector_index(dimensions: int) -> None:
    """Create the HNSW index for ``dimensions`` in the current organization's schema."""
    require_tenant_schema()
    with connection.cursor() as cursor:
        cursor.execute(create_index_sql(dimensions))


def vector_distance_sql(dimensions: int) -> str:
    """The cosine-distance expression matching the index; one %s for the query vector."""
    cast, _ = _cast(int(dimensions))
    return f"(c.embedding::{cast} <=> %s::{cast})"

"""Tables (CSV, XLSX) as data: a summary computed over every row, and queries over
every row that the platform builds from a constrained spec (never model-written code).

Django-free like ``extraction``; parsing and queries run in a resource-limited child
process (``sandbox``), the same limits as document extraction. See docs/files.md.
"""

from knowledge_base.datasets.query import QuerySpec, describe_result
from knowledge_base.datasets.question import specs_for_question
from knowledge_base.datasets.sandbox import query_isolated, summarize_isolated

__all__ = [
    "QuerySpec",
    "describe_result",
    "query_isolated",
    "specs_for_question",
    "summarize_isolated",
]

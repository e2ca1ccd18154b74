"""From a question in words to the query specs that answer it, deterministically.

The platform, not the model, decides what runs: an operation word ("total", "average",
"how many"...), a column named in the question, values of the table's text columns
named in it (filters), and "by/per <column>" (grouping). Questions it cannot read get
no query; the model still sees the summary (computed over every row).
"""

from __future__ import annotations

import re

from knowledge_base.datasets.query import QuerySpec

_OPERATIONS = (
    ("mean", re.compile(r"\b(average|mean|avg)\b")),
    ("sum", re.compile(r"\b(total|sum|add(ed)? up|altogether|combined)\b")),
    ("max", re.compile(r"\b(max|maximum|highest|largest|biggest|most)\b")),
    ("min", re.compile(r"\b(min|minimum|lowest|smallest|least|fewest)\b")),
    ("count", re.compile(r"\b(how many|count|number of)\b")),
)
_GROUP = re.compile(r"\b(?:by|per|for each|each)\s+(.+)")


def _norm(text: str) -> str:
    return " " + re.sub(r"[\W_]+", " ", text.casefold()).strip() + " "


def _mentions(question: str, name: str) -> bool:
    wanted = _norm(name).strip()
    if not wanted:
        return False
    variants = {wanted, wanted + "s", wanted.rstrip("s")}
    return any(f" {v} " in question for v in variants if v)


def _column_named(question: str, columns: list[dict], types: set[str]) -> str | None:
    named = [c["name"] for c in columns if c["type"] in types and _mentions(question, c["name"])]
    return max(named, key=len) if named else None


def specs_for_question(question: str, summary: dict) -> list[QuerySpec]:
    columns = summary.get("columns") or []
    text = _norm(question)
    operations = [op for op, pattern in _OPERATIONS if pattern.search(text)]
    if not operations:
        return []
    group_by = None
    group = _GROUP.search(text)
    if group:
        group_by = _column_named(" " + group.group(1) + " ", columns, {"text", "date", "number"})
    numeric = [c for c in columns if c["type"] == "number"]
    column = _column_named(text, [c for c in numeric if c["name"] != group_by], {"number"})
    if column is None and len(numeric) == 1 and numeric[0]["name"] != group_by:
        column = numeric[0]["name"]
    where = []
    for candidate in columns:
        if candidate["name"] == group_by:
            continue
        for value in candidate.get("values") or ():
            if len(value) >= 2 and _norm(value) != "  " and _norm(value) in text:
                where.append((candidate["name"], value))
                break
    specs = []
    for operation in operations[:2]:
        if operation == "count":
            specs.append(QuerySpec("count", None, tuple(where), group_by))
        elif column is not None:
            specs.append(QuerySpec(operation, column, tuple(where), group_by))
    return specs

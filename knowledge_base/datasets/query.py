"""Queries over every row, from a constrained spec the platform builds.

A spec names an operation, a column, equality filters and an optional grouping: there
is no expression language to inject into, and every name must be one of the table's
columns.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from decimal import Decimal

from knowledge_base.datasets.summary import number, plain
from knowledge_base.datasets.table import Table
from knowledge_base.extraction.errors import ExtractionError

OPERATIONS = ("count", "sum", "mean", "min", "max")
OPERATION_WORDS = {
    "count": "number of rows",
    "sum": "total",
    "mean": "average",
    "min": "minimum",
    "max": "maximum",
}
MAX_GROUPS = 50


@dataclass(frozen=True)
class QuerySpec:
    operation: str
    column: str | None = None
    where: tuple[tuple[str, str], ...] = field(default=())
    group_by: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, value: dict) -> QuerySpec:
        return cls(
            operation=value["operation"],
            column=value.get("column"),
            where=tuple((c, v) for c, v in value.get("where") or ()),
            group_by=value.get("group_by"),
        )


def _index(table: Table, name: str | None) -> int:
    try:
        return table.columns.index(name)
    except ValueError:
        raise ExtractionError(f"The table has no column {name!r}.") from None


def _aggregate(operation: str, values: list[Decimal], rows: int) -> str | None:
    if operation == "count":
        return str(rows)
    if not values:
        return None
    if operation == "sum":
        return plain(sum(values, Decimal(0)))
    if operation == "mean":
        return plain(round(sum(values, Decimal(0)) / len(values), 6))
    return plain(min(values) if operation == "min" else max(values))


def run_query(table: Table, spec: QuerySpec) -> dict:
    if spec.operation not in OPERATIONS:
        raise ExtractionError(f"Unknown operation {spec.operation!r}.")
    if spec.operation != "count" and spec.column is None:
        raise ExtractionError("This operation needs a column.")
    value_at = _index(table, spec.column) if spec.column else None
    filters = [(_index(table, column), value.casefold()) for column, value in spec.where]
    group_at = _index(table, spec.group_by) if spec.group_by else None
    groups: dict[str, list] = defaultdict(lambda: [[], 0])
    matched = 0
    for row in table.rows:
        if any(row[at].casefold() != wanted for at, wanted in filters):
            continue
        matched += 1
        bucket = groups[row[group_at] if group_at is not None else ""]
        bucket[1] += 1
        if value_at is not None:
            parsed = number(row[value_at])
            if parsed is not None:
                bucket[0].append(parsed)
    result: dict = {"spec": spec.as_dict(), "rows": len(table.rows), "matched": matched}
    if group_at is None:
        values, count = groups[""] if groups else ([], 0)
        result["value"] = _aggregate(spec.operation, values, count)
    else:
        ordered = sorted(groups.items(), key=lambda item: item[0])[:MAX_GROUPS]
        result["groups"] = [[k, _aggregate(spec.operation, v, n)] for k, (v, n) in ordered]
        result["group_count"] = len(groups)
    return result


def _grouped(value: str | None) -> str:
    if value is None:
        return "no numeric values"
    try:
        return f"{Decimal(value):,}"
    except ArithmeticError:
        return value


def describe_result(name: str, result: dict) -> str:
    """One sentence a reader (and the extractive responder) can quote."""
    spec = QuerySpec.from_dict(result["spec"])
    what = OPERATION_WORDS[spec.operation]
    if spec.column and spec.operation != "count":
        what += f" of {spec.column}"
    scope = f"all {result['rows']:,} rows"
    if spec.where:
        conditions = " and ".join(f"{c} is {v}" for c, v in spec.where)
        scope = f"the {result['matched']:,} rows (of {result['rows']:,}) where {conditions}"
    if spec.group_by:
        parts = "; ".join(f"{key or '(empty)'}: {_grouped(v)}" for key, v in result["groups"])
        more = result["group_count"] - len(result["groups"])
        suffix = f" (and {more} more groups)" if more > 0 else ""
        return (
            f"Computed over {scope} of {name}, the {what} by {spec.group_by} is: {parts}{suffix}."
        )
    return f"Computed over {scope} of {name}, the {what} is {_grouped(result['value'])}."

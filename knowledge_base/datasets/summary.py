"""A table's summary, computed over every row: columns, types, counts and statistics."""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal, InvalidOperation

from knowledge_base.datasets.table import Table

# A text column with at most this many distinct values keeps them all (filters match them).
MAX_LISTED_VALUES = 50
EXAMPLES = 3
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def number(value: str) -> Decimal | None:
    """A cell as a number ("1,234.50", "$12", "-3e2"), or None."""
    text = value.strip().lstrip("$€£").replace("\u00a0", "")
    if not text:
        return None
    if _THOUSANDS.match(text):
        text = text.replace(",", "")
    try:
        parsed = Decimal(text)
    except InvalidOperation:
        return None
    return parsed if parsed.is_finite() else None


def column_type(values: list[str]) -> str:
    present = [v for v in values if v]
    if not present:
        return "empty"
    if sum(1 for v in present if number(v) is not None) >= 0.95 * len(present):
        return "number"
    if all(_DATE.match(v) for v in present):
        return "date"
    return "text"


def plain(value: Decimal) -> str:
    """A Decimal as JSON-safe text without exponent noise (12, 12.5, 0.333333)."""
    if value == value.to_integral_value():
        return str(value.quantize(Decimal(1)))
    return format(value.normalize(), "f")


def summarize(table: Table) -> dict:
    columns = []
    for position, name in enumerate(table.columns):
        values = [row[position] for row in table.rows]
        present = [v for v in values if v]
        kind = column_type(values)
        column: dict = {"name": name, "type": kind, "non_empty": len(present)}
        counts = Counter(present)
        column["distinct"] = len(counts)
        column["examples"] = list(dict.fromkeys(present))[:EXAMPLES]
        if kind == "number":
            numbers = [n for n in (number(v) for v in present) if n is not None]
            total = sum(numbers, Decimal(0))
            column.update(
                sum=plain(total),
                mean=plain(round(total / len(numbers), 6)),
                min=plain(min(numbers)),
                max=plain(max(numbers)),
            )
        elif kind == "date":
            column.update(min=min(present), max=max(present))
        elif kind == "text":
            column["top"] = [[value, count] for value, count in counts.most_common(5)]
            if len(counts) <= MAX_LISTED_VALUES:
                column["values"] = sorted(counts)
        columns.append(column)
    summary = {"row_count": len(table.rows), "columns": columns}
    if table.sheet:
        summary["sheet"] = table.sheet
    return summary


def describe_summary(name: str, summary: dict) -> str:
    """The summary as the text the model reads with the question."""
    lines = [
        f"Data summary of {name}: {summary['row_count']:,} rows, "
        f"{len(summary['columns'])} columns (computed over every row)."
    ]
    for column in summary["columns"]:
        line = f"- {column['name']} ({column['type']}, {column['non_empty']:,} values"
        if column["type"] == "number":
            line += (
                f"; sum {column['sum']}, mean {column['mean']}, min {column['min']}, "
                f"max {column['max']}"
            )
        elif column["type"] == "date":
            line += f"; from {column['min']} to {column['max']}"
        elif column["type"] == "text":
            line += f"; {column['distinct']:,} distinct"
            if column.get("top"):
                line += "; most common: " + ", ".join(f"{v} ({c})" for v, c in column["top"])
        line += ")"
        if column.get("examples"):
            line += "; e.g. " + ", ".join(column["examples"])
        lines.append(line)
    return "\n".join(lines)

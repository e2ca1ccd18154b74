"""Tables as data: summaries and queries over every row, in the extraction sandbox."""

import csv
import io
import random
from decimal import Decimal

import openpyxl
import pytest

from knowledge_base import datasets
from knowledge_base.datasets.query import QuerySpec
from knowledge_base.datasets.table import CSV, XLSX
from knowledge_base.extraction import DocumentError, ExtractionLimits


def sales_rows(n: int, seed: int = 7) -> list[list[str]]:
    rng = random.Random(seed)
    regions = ["North", "South", "East", "West"]
    return [
        [f"2026-01-{1 + i % 28:02d}", rng.choice(regions), f"{rng.randint(1, 99999) / 100:.2f}"]
        for i in range(n)
    ]


def as_csv(rows, header=("date", "region", "amount")) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def test_summary_is_computed_over_every_row():
    rows = sales_rows(5000)
    result = datasets.summarize_isolated(as_csv(rows), CSV)
    summary = result["summary"]
    assert summary["row_count"] == 5000
    amount = next(c for c in summary["columns"] if c["name"] == "amount")
    assert amount["type"] == "number"
    assert Decimal(amount["sum"]) == sum(Decimal(r[2]) for r in rows)
    assert Decimal(amount["max"]) == max(Decimal(r[2]) for r in rows)
    region = next(c for c in summary["columns"] if c["name"] == "region")
    assert region["type"] == "text" and region["values"] == ["East", "North", "South", "West"]
    date = next(c for c in summary["columns"] if c["name"] == "date")
    assert date["type"] == "date" and date["min"] == "2026-01-01"
    # Every row is in the text too (the last one included), as "column: value" records.
    assert result["text"].splitlines()[-1].startswith(f"date: {rows[-1][0]}")


def test_a_question_for_a_total_becomes_a_sum_over_all_rows():
    rows = sales_rows(5000)
    data = as_csv(rows)
    summary = datasets.summarize_isolated(data, CSV)["summary"]
    specs = datasets.specs_for_question("What is the total amount over all rows?", summary)
    assert specs == [QuerySpec("sum", "amount")]
    [result] = datasets.query_isolated(data, CSV, specs)
    expected = sum(Decimal(r[2]) for r in rows)
    assert Decimal(result["value"]) == expected
    sentence = datasets.describe_result("sales.csv", result)
    assert f"{expected:,}" in sentence and "all 5,000 rows" in sentence


def test_filters_and_groups_come_from_values_and_columns_named():
    rows = sales_rows(1000)
    data = as_csv(rows)
    summary = datasets.summarize_isolated(data, CSV)["summary"]
    [spec] = datasets.specs_for_question("Average amount in the North?", summary)
    assert spec == QuerySpec("mean", "amount", (("region", "North"),))
    [grouped] = datasets.specs_for_question("How many sales per region?", summary)
    assert grouped == QuerySpec("count", None, (), "region")
    results = datasets.query_isolated(data, CSV, [spec, grouped])
    north = [Decimal(r[2]) for r in rows if r[1] == "North"]
    assert Decimal(results[0]["value"]) == round(sum(north) / len(north), 6)
    assert results[0]["matched"] == len(north)
    counts = dict(results[1]["groups"])
    assert int(counts["North"]) == len(north)
    assert sum(int(v) for v in counts.values()) == 1000


def test_questions_without_computation_get_no_query():
    summary = {"columns": [{"name": "amount", "type": "number"}], "row_count": 3}
    assert datasets.specs_for_question("What is this file about?", summary) == []


def test_xlsx_first_sheet_with_numbers_and_dates():
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Orders"
    sheet.append(["product", "quantity", "price"])
    for n in range(1, 301):
        sheet.append([f"item {n % 7}", n, n * 1.5])
    out = io.BytesIO()
    workbook.save(out)
    data = out.getvalue()
    summary = datasets.summarize_isolated(data, XLSX)["summary"]
    assert summary["sheet"] == "Orders" and summary["row_count"] == 300
    quantity = next(c for c in summary["columns"] if c["name"] == "quantity")
    assert quantity["type"] == "number" and quantity["sum"] == str(sum(range(1, 301)))
    [result] = datasets.query_isolated(data, XLSX, [QuerySpec("sum", "price")])
    assert Decimal(result["value"]) == Decimal(sum(range(1, 301))) * Decimal("1.5")


def test_limits_apply_to_tables():
    data = as_csv(sales_rows(50))
    with pytest.raises(DocumentError, match="more than 10 rows"):
        datasets.summarize_isolated(data, CSV, limits=ExtractionLimits(max_rows=10))


def test_a_spec_naming_no_column_of_the_table_is_refused():
    data = as_csv(sales_rows(5))
    with pytest.raises(DocumentError, match="no column"):
        datasets.query_isolated(data, CSV, [QuerySpec("sum", "amount; DROP TABLE")])

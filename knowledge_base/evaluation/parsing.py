"""Test questions from an uploaded file: CSV or JSONL, validated line by line.

CSV (a header row): ``question,document[,grade]``, one row per (question, document); the
rows of one question are grouped by its text, as qrels are. JSONL: one object per line,
``{"question": "...", "documents": ["<id or title>", {"document": "...", "grade": 2}]}``.
Errors name the line and go to the ``file`` field; nothing is stored unless the whole
file is valid."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

from core import errors

MAX_BYTES = 2 * 1024 * 1024
MAX_QUESTION_CHARS = 2000
MAX_GRADE = 3
MAX_REPORTED = 20  # errors listed; the rest are counted


class PayloadTooLarge(errors.PayloadTooLarge):
    code = "file_too_large"


@dataclass
class ParsedQuestion:
    text: str
    documents: list[tuple[str, int]] = field(default_factory=list)
    where: str = ""  # "line 3": where the errors point


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}")

    def raise_any(self) -> None:
        if self.items:
            shown = self.items[:MAX_REPORTED]
            if len(self.items) > MAX_REPORTED:
                shown.append(f"... and {len(self.items) - MAX_REPORTED} more.")
            raise errors.ValidationFailed(fields={"file": shown})


def _grade(value, where: str, problems: _Problems) -> int:
    if value in (None, ""):
        return 1
    try:
        grade = int(str(value).strip())
    except ValueError:
        grade = -1
    if not 1 <= grade <= MAX_GRADE:
        problems.add(where, f"the grade must be a whole number from 1 to {MAX_GRADE}.")
        return 1
    return grade


def _text(value, where: str, problems: _Problems) -> str:
    text = str(value or "").strip()
    if not text:
        problems.add(where, "the question is empty.")
    elif len(text) > MAX_QUESTION_CHARS:
        problems.add(where, f"the question is longer than {MAX_QUESTION_CHARS} characters.")
    return text


def _from_csv(text: str, problems: _Problems) -> list[ParsedQuestion]:
    reader = csv.DictReader(io.StringIO(text))
    columns = {c.strip().lower() for c in reader.fieldnames or []}
    if not {"question", "document"} <= columns:
        problems.add("line 1", 'the header must name the columns "question" and "document".')
        return []
    questions: dict[str, ParsedQuestion] = {}
    for row in reader:
        row = {(k or "").strip().lower(): (v or "") for k, v in row.items()}
        where = f"line {reader.line_num}"
        question = _text(row.get("question"), where, problems)
        document = row.get("document", "").strip()
        if not document:
            problems.add(where, "the document is empty.")
        grade = _grade(row.get("grade"), where, problems)
        if question and document:
            entry = questions.setdefault(question, ParsedQuestion(question, where=where))
            entry.documents.append((document, grade))
    return list(questions.values())


def _from_jsonl(text: str, problems: _Problems) -> list[ParsedQuestion]:
    questions = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            item = json.loads(line)
        except ValueError:
            problems.add(where, "not a JSON object.")
            continue
        if not isinstance(item, dict):
            problems.add(where, "not a JSON object.")
            continue
        question = _text(item.get("question"), where, problems)
        documents = item.get("documents")
        if not isinstance(documents, list) or not documents:
            problems.add(where, '"documents" must be a non-empty list.')
            continue
        parsed = ParsedQuestion(question, where=where)
        for entry in documents:
            if isinstance(entry, dict):
                reference, grade = (
                    entry.get("document"),
                    _grade(entry.get("grade"), where, problems),
                )
            else:
                reference, grade = entry, 1
            if not isinstance(reference, str) or not reference.strip():
                problems.add(where, "each document is an id or a title.")
                continue
            parsed.documents.append((reference.strip(), grade))
        if question:
            questions.append(parsed)
    return questions


def parse_questions(*, name: str, data: bytes) -> list[ParsedQuestion]:
    if len(data) > MAX_BYTES:
        raise PayloadTooLarge(f"{name} is {len(data):,} bytes; the limit is {MAX_BYTES:,} bytes.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise errors.ValidationFailed(fields={"file": ["The file is not UTF-8 text."]}) from None
    problems = _Problems()
    lower = name.lower()
    if lower.endswith((".jsonl", ".ndjson", ".json")):
        questions = _from_jsonl(text, problems)
    elif lower.endswith((".csv", ".tsv", ".txt")):
        questions = _from_csv(text, problems)
    else:
        raise errors.ValidationFailed(
            fields={"file": ["Upload a .csv or .jsonl file of questions."]}
        )
    problems.raise_any()
    if not questions:
        raise errors.ValidationFailed(fields={"file": ["The file has no questions."]})
    for q in questions:
        if len(q.documents) > 100:
            problems.add(q.where, "at most 100 documents per question.")
    problems.raise_any()
    return questions

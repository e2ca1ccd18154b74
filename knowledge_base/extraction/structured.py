"""JSON: "key: value" lines, nested keys dotted, one block per record or nested object."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from knowledge_base.extraction.document import ExtractedDocument, Section
from knowledge_base.extraction.errors import ExtractionError
from knowledge_base.extraction.limits import DEFAULT_LIMITS, ExtractionLimits, check_count
from knowledge_base.extraction.text import clean_text


def extract_json(text: str, limits: ExtractionLimits = DEFAULT_LIMITS) -> ExtractedDocument:
    sections: list[Section] = []
    try:
        value = json.loads(text)
        for section in _json_sections(value):
            sections.append(section)
            check_count(len(sections), limits.max_paragraphs, "records")
    except RecursionError as exc:
        raise ExtractionError("The JSON file is nested too deeply to be read.") from exc
    except ValueError as exc:
        raise ExtractionError(f"The JSON file is not valid JSON: {exc}.") from exc
    return ExtractedDocument(title=None, sections=sections)


def _json_sections(value: Any) -> Iterator[Section]:
    if isinstance(value, list):
        # A list of records: one block per record.
        for item in value:
            yield from _json_block(_json_lines(item, ""), None)
    elif isinstance(value, dict):
        yield from _json_object_sections(value)
    else:
        yield from _json_block(_json_lines(value, ""), None)


def _json_object_sections(value: dict[str, Any]) -> Iterator[Section]:
    """Simple fields together in one block; each nested object or record list its own part."""
    simple: list[str] = []
    for key, item in value.items():
        if _is_record_list(item):
            yield from _json_block(simple, None)
            simple = []
            for record in item:
                yield from _json_block(_json_lines(record, ""), str(key))
        elif isinstance(item, dict) and item:
            yield from _json_block(simple, None)
            simple = []
            yield from _json_block(_json_lines(item, str(key)), str(key))
        else:
            simple.extend(_json_lines(item, str(key)))
    yield from _json_block(simple, None)


def _json_block(lines: Iterable[str], heading: str | None) -> Iterator[Section]:
    text = "\n".join(lines).strip()
    if text:
        yield Section(text, heading=heading)


def _is_record_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def _json_lines(value: Any, prefix: str) -> Iterator[str]:
    """'key: value' lines, nested keys dotted ("address.city"), list items indexed."""
    if isinstance(value, dict):
        if not value:
            yield _json_line(prefix, "{}")
        for key, item in value.items():
            yield from _json_lines(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        if not value:
            yield _json_line(prefix, "[]")
        elif not any(isinstance(item, dict | list) for item in value):
            yield _json_line(prefix, ", ".join(_json_scalar(item) for item in value))
        else:
            for position, item in enumerate(value):
                yield from _json_lines(item, f"{prefix}[{position}]")
    else:
        yield _json_line(prefix, _json_scalar(value))


def _json_line(prefix: str, value: str) -> str:
    return f"{prefix}: {value}" if prefix else value


def _json_scalar(value: Any) -> str:
    return clean_text(value) if isinstance(value, str) else json.dumps(value)

"""Reading an export: the file (a zip or a JSON/HTML file) under limits, its format,
then each conversation parsed on its own (one bad conversation is reported, the
others are imported).

Limits (docs/conversations.md): the upload itself (CONVERSATIONS_IMPORT_MAX_MB), and
for a zip the knowledge base's archive limits (members, unpacked size, compression
ratio: ``knowledge_base.ingestion.extraction_limits``) checked from the zip directory
before anything is unpacked; the member is then read in bounded pieces, so a zip that
lies about its sizes is cut off at the limit too.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from datetime import timedelta

from chat.conversations.formats import chatgpt, claude, gemini, generic
from chat.conversations.formats.base import (
    ConversationProblem,
    ExportError,
    ImportProblem,
    ParsedConversation,
    ParsedMessage,
    ParseResult,
)

SOURCES = ("chatgpt", "claude", "gemini", "json")
_PARSERS = {"chatgpt": chatgpt, "claude": claude, "json": generic}
# The member of an export zip each source reads, by the end of its path.
_MEMBERS = {
    "chatgpt": ("conversations.json",),
    "claude": ("conversations.json",),
    "gemini": ("gemini apps/myactivity.json", "gemini apps/myactivity.html"),
    "json": (".json",),
}

__all__ = [
    "SOURCES",
    "ExportError",
    "ExportLimits",
    "ImportProblem",
    "ParseResult",
    "ParsedConversation",
    "ParsedMessage",
    "parse_export",
]


@dataclass(frozen=True)
class ExportLimits:
    max_bytes: int
    max_zip_members: int
    max_unpacked_bytes: int
    max_compression_ratio: int
    max_html_elements: int
    max_conversations: int
    gemini_gap: timedelta


def _member(archive: zipfile.ZipFile, source: str | None, limits: ExportLimits) -> tuple[str, str]:
    members = archive.infolist()
    if len(members) > limits.max_zip_members:
        raise ExportError(
            f"The zip has more than {limits.max_zip_members:,} files (limit {limits.max_zip_members:,})."
        )
    total = sum(m.file_size for m in members)
    if total > limits.max_unpacked_bytes:
        raise ExportError(
            f"The zip unpacks to more than {limits.max_unpacked_bytes // 2**20:,} MB "
            f"(limit {limits.max_unpacked_bytes // 2**20:,} MB)."
        )
    for member in members:
        if member.file_size > max(member.compress_size, 1) * limits.max_compression_ratio:
            raise ExportError(
                f"{member.filename} is compressed more than {limits.max_compression_ratio:,} "
                "times: refused as a possible zip bomb."
            )
    wanted = _MEMBERS[source] if source else tuple(x for s in SOURCES for x in _MEMBERS[s])
    candidates = sorted(
        (m for m in members if not m.is_dir() and m.filename.lower().endswith(wanted)),
        key=lambda m: (m.filename.count("/"), m.filename),
    )
    if not candidates:
        names = " or ".join(sorted(set(wanted)))
        raise ExportError(f"The zip has no {names}.")
    member = candidates[0]
    with archive.open(member) as handle:
        data = handle.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise ExportError(f"{member.filename} is larger than {limits.max_bytes // 2**20:,} MB.")
    return member.filename, _decode(data)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ExportError("The file is not UTF-8 text.") from None


def detect(value, *, name: str = "") -> str:
    """The source of a parsed JSON export, from its shape."""
    if "gemini apps" in name.lower() or "myactivity" in name.lower():
        return "gemini"
    if isinstance(value, list):
        first = next((x for x in value if isinstance(x, dict)), None)
        if first is not None:
            if "mapping" in first:
                return "chatgpt"
            if "chat_messages" in first:
                return "claude"
            if "turns" in first:
                return "json"
            if "safeHtmlItem" in first or str(first.get("title", "")).startswith("Prompted"):
                return "gemini"
    raise ExportError(
        "Unknown export format: expected ChatGPT or Claude conversations.json, Gemini "
        "MyActivity.json/.html, or the generic JSON format (docs/conversations.md)."
    )


def parse_export(
    *, name: str, data: bytes, source: str | None, limits: ExportLimits
) -> tuple[str, ParseResult]:
    """(source, parsed conversations and problems) of an uploaded export.
    ``source`` None: detected. Raises ExportError for a file that cannot be read."""
    if len(data) > limits.max_bytes:
        raise ExportError(f"The file is larger than {limits.max_bytes // 2**20:,} MB.")
    if source is not None and source not in SOURCES:
        raise ExportError(f"Unknown source {source!r}: use one of {', '.join(SOURCES)}.")
    if data[:4] == b"PK\x03\x04" or name.lower().endswith(".zip"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                name, text = _member(archive, source, limits)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as error:
            raise ExportError(f"The zip cannot be read: {error}.") from None
    else:
        text = _decode(data)
    stripped = text.lstrip()
    if stripped[:1] == "<":
        if source not in (None, "gemini"):
            raise ExportError(f"An HTML file is only read as a Gemini export, not {source}.")
        return "gemini", gemini.parse(
            text, html=True, gap=limits.gemini_gap, max_elements=limits.max_html_elements
        )
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ExportError(
            f"The file is not valid JSON: {error.msg} at line {error.lineno}."
        ) from None
    except RecursionError:
        raise ExportError("The JSON is nested too deeply.") from None
    source = source or detect(value, name=name)
    if isinstance(value, dict) and isinstance(value.get("conversations"), list):
        value = value["conversations"]
    if source == "gemini":
        return source, gemini.parse(
            "",
            html=False,
            gap=limits.gemini_gap,
            max_elements=limits.max_html_elements,
            records=value,
        )
    if not isinstance(value, list):
        raise ExportError("The export must be a JSON array of conversations.")
    if len(value) > limits.max_conversations:
        raise ExportError(
            f"The export has more than {limits.max_conversations:,} conversations "
            f"(limit {limits.max_conversations:,})."
        )
    parser = _PARSERS[source]
    result = ParseResult()
    for position, item in enumerate(value):
        try:
            conversation, _skipped = parser.parse_conversation(item)
        except ConversationProblem as problem:
            result.problems.append(
                ImportProblem(parser.label(item, position), problem.field, problem.message)
            )
            continue
        except (RecursionError, TypeError, ValueError, AttributeError) as error:
            result.problems.append(
                ImportProblem(
                    parser.label(item, position), "conversation", f"Unreadable: {error}"[:300]
                )
            )
            continue
        result.conversations.append(conversation)
    return source, result

"""Read a table and run the summary or a query in a resource-limited child process.

The same boundary as document extraction (knowledge_base.extraction.sandbox, whose
process set-up this reuses): CPU and memory limits from the kernel, no environment,
no files to write, killed past its wall-clock budget.

Run as ``python -m knowledge_base.datasets.sandbox``: one JSON line of arguments on
stdin, then the table's bytes; one JSON object on stdout.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from typing import Any

from knowledge_base.extraction import sandbox as extraction_sandbox
from knowledge_base.extraction.errors import DocumentError, ExtractionError
from knowledge_base.extraction.limits import DEFAULT_LIMITS, ExtractionLimits, LimitExceeded

_ERRORS = {cls.__name__: cls for cls in (DocumentError, ExtractionError, LimitExceeded)}


def _run(arguments: dict, data: bytes, limits: ExtractionLimits) -> dict:
    header = json.dumps({**arguments, "limits": limits.as_dict()}).encode()
    with tempfile.TemporaryFile() as source:
        source.write(header + b"\n" + data)
        source.seek(0)
        try:
            child = subprocess.run(
                [sys.executable, "-s", "-m", "knowledge_base.datasets.sandbox"],
                stdin=source,
                capture_output=True,
                cwd=extraction_sandbox._PROJECT_ROOT,
                env=extraction_sandbox._child_environment(),
                timeout=limits.wall_seconds,
                start_new_session=True,
            )
        except subprocess.TimeoutExpired:
            raise LimitExceeded(
                f"Reading the table took more than {limits.wall_seconds:.0f} seconds."
            ) from None
    if not child.stdout:
        # Killed by its CPU or memory limit (or crashed): the same message as documents.
        extraction_sandbox._result(child.returncode, child.stdout, child.stderr, limits)
    answer = json.loads(child.stdout)
    if "error" in answer:
        error = answer["error"]
        raise _ERRORS.get(error["type"], ExtractionError)(error["message"])
    return answer["result"]


def summarize_isolated(
    data: bytes, content_type: str, *, limits: ExtractionLimits = DEFAULT_LIMITS
) -> dict:
    """{"summary": {...}, "text": rows as "column: value" records} for the table."""
    return _run({"op": "summary", "content_type": content_type}, data, limits)


def query_isolated(
    data: bytes, content_type: str, specs: list, *, limits: ExtractionLimits = DEFAULT_LIMITS
) -> list[dict]:
    """The results of ``specs`` (QuerySpec) over every row of the table."""
    arguments = {
        "op": "query",
        "content_type": content_type,
        "specs": [spec.as_dict() for spec in specs],
    }
    return _run(arguments, data, limits)


# --------------------------------------------------------------------------- the child


def _child_answer(arguments: dict, data: bytes, limits: ExtractionLimits) -> Any:
    from knowledge_base.datasets.query import QuerySpec, run_query
    from knowledge_base.datasets.summary import summarize
    from knowledge_base.datasets.table import read_table
    from knowledge_base.extraction.tabular import record_line

    table = read_table(data, arguments["content_type"], limits)
    if arguments["op"] == "summary":
        text = "\n".join(
            line for line in (record_line(table.columns, r) for r in table.rows) if line
        )
        return {"summary": summarize(table), "text": text}
    return [run_query(table, QuerySpec.from_dict(spec)) for spec in arguments["specs"]]


def _child_main() -> int:
    extraction_sandbox._die_with_the_worker()
    stdin = sys.stdin.buffer
    arguments = json.loads(stdin.readline())
    limits = ExtractionLimits(**arguments.pop("limits"))
    extraction_sandbox._limit_this_process(limits)
    try:
        answer: dict[str, Any] = {"result": _child_answer(arguments, stdin.read(), limits)}
    except DocumentError as exc:
        answer = {"error": {"type": type(exc).__name__, "message": exc.message}}
    except MemoryError:
        answer = {"error": {"type": "LimitExceeded", "message": "The table needs too much memory."}}
    sys.stdout.buffer.write(json.dumps(answer).encode())
    return 0


if __name__ == "__main__":
    sys.exit(_child_main())

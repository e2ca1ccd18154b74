"""Parse a document in a child process the kernel holds to a CPU-time and memory limit.

The parsers are large C and Python libraries fed hostile input; the element counts in
`limits` stop the attacks we know of, and this process boundary stops the rest: the child
gets RLIMIT_CPU and RLIMIT_AS, no environment (no database URL, no keys), no files to
write, and is killed when it overruns its wall-clock budget or when the caller says the
work is no longer wanted (the document was deleted or reprocessed). Whatever happens in
it, the worker that started it only ever sees a result or a `DocumentError`.

Run as `python -m knowledge_base.extraction.sandbox`: one JSON line of arguments on stdin,
then the document's bytes; one JSON object on stdout. A subprocess rather than
multiprocessing: Celery's prefork workers are daemonic processes, which multiprocessing
does not let have children, and a fresh interpreter inherits nothing from the worker.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from knowledge_base.extraction.document import ExtractedDocument, Section
from knowledge_base.extraction.errors import (
    DocumentError,
    EmptyContent,
    ExtractionError,
    UnsupportedContent,
)
from knowledge_base.extraction.limits import DEFAULT_LIMITS, ExtractionLimits, LimitExceeded

logger = logging.getLogger(__name__)

_PROJECT_ROOT = Path(__file__).resolve().parents[2]
_ERRORS: dict[str, type[DocumentError]] = {
    cls.__name__: cls
    for cls in (DocumentError, EmptyContent, ExtractionError, LimitExceeded, UnsupportedContent)
}
# How often the parent checks that the work is still wanted while the child parses.
POLL_SECONDS = 0.5


class ExtractionCancelled(Exception):
    """The caller withdrew the work (`keep_going` answered False); the child was killed."""


def extract_isolated(
    data: bytes,
    content_type: str,
    *,
    limits: ExtractionLimits = DEFAULT_LIMITS,
    keep_going: Callable[[], bool] | None = None,
    main_content: bool = False,
) -> ExtractedDocument:
    """`extraction.extract(data, content_type, limits, main_content=...)` in a
    resource-limited child process.

    `keep_going` is called about every `POLL_SECONDS` while the child runs; when it answers
    False the child is killed and `ExtractionCancelled` raised.
    """
    header = json.dumps(
        {"content_type": content_type, "limits": limits.as_dict(), "main_content": main_content}
    ).encode()
    # The input goes through an unlinked temporary file, not a pipe: communicate() can be
    # retried after a timeout (to poll `keep_going`) only for output, never for input.
    with tempfile.TemporaryFile() as source:
        source.write(header + b"\n")
        source.write(data)
        source.seek(0)
        child = subprocess.Popen(
            [sys.executable, "-s", "-m", "knowledge_base.extraction.sandbox"],
            stdin=source,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=_PROJECT_ROOT,
            env=_child_environment(),
            start_new_session=True,  # a signal meant for the worker's group does not reach it
        )
    started = time.monotonic()
    try:
        while True:
            try:
                stdout, stderr = child.communicate(timeout=POLL_SECONDS)
                break
            except subprocess.TimeoutExpired:
                pass
            if keep_going is not None and not keep_going():
                raise ExtractionCancelled()
            if time.monotonic() - started > limits.wall_seconds:
                raise LimitExceeded(
                    f"Reading the document took more than {limits.wall_seconds:.0f} seconds "
                    f"(limit {limits.wall_seconds:.0f} s)."
                )
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    return _result(child.returncode, stdout, stderr, limits)


def _child_environment() -> dict[str, str]:
    # Nothing of the worker's environment: its secrets stay out of reach of a parser exploit.
    return {
        "PATH": os.defpath,
        "PYTHONPATH": str(_PROJECT_ROOT),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def _result(
    returncode: int, stdout: bytes, stderr: bytes, limits: ExtractionLimits
) -> ExtractedDocument:
    if returncode == -signal.SIGXCPU and not stdout:  # the soft CPU limit
        raise LimitExceeded(
            f"Reading the document took more than {limits.cpu_seconds} seconds of CPU time "
            f"(limit {limits.cpu_seconds} s)."
        )
    if returncode == -signal.SIGKILL and not stdout:
        # The hard CPU limit (a parser that ignored SIGXCPU) or the system's OOM killer.
        raise LimitExceeded(
            "Reading the document was stopped: it needed more than the "
            f"{limits.cpu_seconds} seconds of CPU time or {limits.memory_mb:,} MB of memory "
            "allowed."
        )
    try:
        answer = json.loads(stdout)
    except ValueError:
        logger.error(
            "extraction child ended with %s and no answer: %s",
            returncode,
            stderr[-2000:].decode(errors="replace"),
        )
        raise ExtractionError(
            "The document could not be read: its reader stopped unexpectedly."
        ) from None
    if "error" in answer:
        error = answer["error"]
        raise _ERRORS.get(error["type"], ExtractionError)(error["message"])
    return _document_from_json(answer["document"])


def _document_to_json(document: ExtractedDocument) -> dict[str, Any]:
    return {
        "title": document.title,
        "page_count": document.page_count,
        "metadata": document.metadata,
        "sections": [[s.text, s.page, s.heading] for s in document.sections],
    }


def _document_from_json(value: dict[str, Any]) -> ExtractedDocument:
    return ExtractedDocument(
        title=value["title"],
        sections=[Section(text, page, heading) for text, page, heading in value["sections"]],
        page_count=value["page_count"],
        metadata=value["metadata"],
    )


# --------------------------------------------------------------------------- the child


def _limit_this_process(limits: ExtractionLimits) -> None:
    import resource

    memory = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    # SIGXCPU at the soft limit ends the process; the hard limit (SIGKILL) backs it up.
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 2))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Parsers have no business writing files; with SIGXFSZ ignored a write fails (EFBIG).
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))


def _out_of_memory(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(20):
        if seen is None:
            return False
        if isinstance(seen, MemoryError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _peak_memory_mb() -> float:
    """This process's peak virtual size (Linux; 0 where /proc is missing)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmPeak:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _memory_exceeded(limits: ExtractionLimits) -> dict[str, Any]:
    return {
        "error": {
            "type": "LimitExceeded",
            "message": f"Reading the document needed more than {limits.memory_mb:,} MB of "
            f"memory (limit {limits.memory_mb:,} MB).",
        }
    }


def _die_with_the_worker() -> None:
    """Linux: the kernel kills this process if the thread that started it ends (a worker
    killed mid-parse), so an orphan does not parse on until its CPU limit."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the worker died before the line above
        os._exit(1)


def _child_main() -> int:
    _die_with_the_worker()
    stdin = sys.stdin.buffer
    arguments = json.loads(stdin.readline())
    limits = ExtractionLimits(**arguments["limits"])
    _limit_this_process(limits)
    try:
        from knowledge_base.extraction import extract

        document = extract(
            stdin.read(),
            arguments["content_type"],
            limits,
            main_content=bool(arguments.get("main_content")),
        )
        answer: dict[str, Any] = {"document": _document_to_json(document)}
    except DocumentError as exc:
        answer = {"error": {"type": type(exc).__name__, "message": exc.message}}
        # Readers report a failed allocation as a damaged file (lxml says "unknown error"):
        # a failure in a process that reached its address-space limit was the limit.
        if _out_of_memory(exc) or _peak_memory_mb() >= limits.memory_mb * 0.9:
            answer = _memory_exceeded(limits)
    except MemoryError:
        answer = _memory_exceeded(limits)
    sys.stdout.buffer.write(json.dumps(answer).encode())
    return 0


if __name__ == "__main__":
    sys.exit(_child_main())

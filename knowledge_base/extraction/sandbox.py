"""Parse a document in a child process the kernel holds to a CPU-time and memory limit.

The parsers are large C and Python libraries fed hostile input; the element counts in
`limits` stop the attacks we know of, and this process boundary stops the rest: the child
gets RLIMIT_CPU and RLIMIT_AS, no environment (no database URL, no keys), no files to
write, and is killed when it overruns its wall-clock budget or when the caller says the
work is no longer wanted (the document was deleted or reprocessed). Whatever happens in
it, the worker that started it only ever sees a result or a `DocumentError`.

Each document gets a child of its own, forked by a fork server (docs/adr/0092): a clean
interpreter (no environment, nothing inherited from the worker) that has imported the
readers once and forks one child per document, a few milliseconds instead of the
interpreter start and imports each time (about 150 ms here). One fork server per worker
process, started on first use, talks to it over a socket pair; the server ends when the
worker does (its end of the pair closes) and takes any running parse with it. Where the
server cannot run (no Unix socket descriptor passing), each document gets a fresh
interpreter: `python -m knowledge_base.extraction.sandbox`, one JSON line of arguments
on stdin, then the document's bytes; one JSON object on stdout.

Subprocesses rather than multiprocessing: Celery's prefork workers are daemonic
processes, which multiprocessing does not let have children.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
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
    extract_with = _extract_forked if FORK_SERVER_SUPPORTED else _extract_spawned
    return extract_with(data, content_type, limits, keep_going, main_content=main_content)


def _header(content_type: str, limits: ExtractionLimits, main_content: bool) -> bytes:
    return json.dumps(
        {"content_type": content_type, "limits": limits.as_dict(), "main_content": main_content}
    ).encode()


def _check(started: float, limits: ExtractionLimits, keep_going) -> None:
    if keep_going is not None and not keep_going():
        raise ExtractionCancelled()
    if time.monotonic() - started > limits.wall_seconds:
        raise LimitExceeded(
            f"Reading the document took more than {limits.wall_seconds:.0f} seconds "
            f"(limit {limits.wall_seconds:.0f} s)."
        )


def _extract_spawned(
    data, content_type, limits, keep_going, *, main_content: bool = False
) -> ExtractedDocument:
    # The input goes through an unlinked temporary file, not a pipe: communicate() can be
    # retried after a timeout (to poll `keep_going`) only for output, never for input.
    with tempfile.TemporaryFile() as source:
        source.write(_header(content_type, limits, main_content) + b"\n")
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
            _check(started, limits, keep_going)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    return _result(child.returncode, stdout, stderr, limits)


# --------------------------------------------------------------------------- fork server

FORK_SERVER_SUPPORTED = sys.platform == "linux" and hasattr(socket, "send_fds")
# How long the server may take to say it is ready, and to report a finished child's exit.
SERVER_START_SECONDS = 30.0
EXIT_REPORT_SECONDS = 10.0


class _ForkServer:
    """This process's fork server (one per process: a forked worker starts its own)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._control: socket.socket | None = None
        self._owner = 0

    def connect(self) -> socket.socket:
        """A connection of its own to the server, for one document."""
        with self._lock:
            for attempt in (1, 2):
                if not self._running():
                    self._start()
                ours, theirs = socket.socketpair()
                try:
                    socket.send_fds(self._control, [b"c"], [theirs.fileno()])
                    return ours
                except OSError:
                    ours.close()
                    if attempt == 2:
                        raise
                    self._process = None  # it died since: start another
                finally:
                    theirs.close()
        raise AssertionError("unreachable")

    def _running(self) -> bool:
        return (
            self._process is not None
            and self._owner == os.getpid()
            and self._process.poll() is None
        )

    def _start(self) -> None:
        if self._owner == os.getpid() and self._control is not None:
            self._control.close()
        ours, theirs = socket.socketpair()
        process = subprocess.Popen(
            [
                sys.executable,
                "-s",
                "-m",
                "knowledge_base.extraction.sandbox",
                "--fork-server",
                str(theirs.fileno()),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            cwd=_PROJECT_ROOT,
            env=_child_environment(),
            pass_fds=[theirs.fileno()],
            start_new_session=True,
        )
        theirs.close()
        ready = process.stdout.readline() if process.stdout else b""
        if ready != b"ready\n":
            process.kill()
            process.wait()
            ours.close()
            raise ExtractionError("The document reader could not be started.")
        self._process, self._control, self._owner = process, ours, os.getpid()


_server = _ForkServer()


def _extract_forked(
    data, content_type, limits, keep_going, *, main_content: bool = False
) -> ExtractedDocument:
    connection = _server.connect()
    read_end, write_end = os.pipe()
    chunks: list[bytes] = []
    started = time.monotonic()
    # Closing the connection (on any way out) tells the server to kill the child if it
    # still runs.
    with connection, tempfile.TemporaryFile() as source, open(read_end, "rb", 0) as output:
        source.write(data)
        source.flush()
        source.seek(0)
        try:
            socket.send_fds(
                connection,
                [_header(content_type, limits, main_content)],
                [source.fileno(), write_end],
            )
        finally:
            os.close(write_end)
        while True:
            ready, _, _ = select.select([output], [], [], POLL_SECONDS)
            if ready:
                chunk = output.read(1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
                continue
            _check(started, limits, keep_going)
        returncode = _exit_code(connection)
    return _result(returncode, b"".join(chunks), b"", limits)


def _exit_code(connection: socket.socket) -> int:
    """The server's report of the child's end: "pid N" when forked, then "exit N"."""
    connection.settimeout(EXIT_REPORT_SECONDS)
    received = b""
    while b"exit " not in received or not received.endswith(b"\n"):
        chunk = connection.recv(256)
        if not chunk:
            raise ExtractionError("The document could not be read: its reader stopped.")
        received += chunk
    return int(received.rsplit(b"exit ", 1)[1])


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


def _answer(
    data: bytes, content_type: str, limits: ExtractionLimits, main_content: bool = False
) -> dict[str, Any]:
    try:
        from knowledge_base.extraction import extract

        document = extract(data, content_type, limits, main_content=main_content)
        answer: dict[str, Any] = {"document": _document_to_json(document)}
    except DocumentError as exc:
        answer = {"error": {"type": type(exc).__name__, "message": exc.message}}
        # Readers report a failed allocation as a damaged file (lxml says "unknown error"):
        # a failure in a process that reached its address-space limit was the limit.
        if _out_of_memory(exc) or _peak_memory_mb() >= limits.memory_mb * 0.9:
            answer = _memory_exceeded(limits)
    except MemoryError:
        answer = _memory_exceeded(limits)
    return answer


def _child_main() -> int:
    _die_with_the_worker()
    stdin = sys.stdin.buffer
    arguments = json.loads(stdin.readline())
    limits = ExtractionLimits(**arguments["limits"])
    _limit_this_process(limits)
    answer = _answer(
        stdin.read(), arguments["content_type"], limits, bool(arguments.get("main_content"))
    )
    sys.stdout.buffer.write(json.dumps(answer).encode())
    return 0


# Imported by the fork server before it forks (the readers import their libraries when
# first used): about 70 MB of address space, within every child's memory limit.
PRELOADED = (
    "bs4",
    "docx",
    "docx.table",
    "pypdf",
    *(
        f"knowledge_base.extraction.{reader}"
        for reader in ("docx", "html", "markdown", "pdf", "structured", "tabular", "text")
    ),
)


def _preload_readers() -> None:
    import importlib

    for module in PRELOADED:
        importlib.import_module(module)


def _fork_server_main(control_fd: int) -> int:
    """Serve one worker process: each connection it sends brings one document (its
    header, the file holding its bytes and the pipe for the answer); a child is forked
    for it, and its pid and then its exit code are written back. A connection closed
    before its child ended kills the child; the control socket closed (the worker is
    gone) ends the server and its children."""
    _preload_readers()
    control = socket.socket(fileno=control_fd)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_write)
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ)
    selector.register(wake_read, selectors.EVENT_READ)
    children: dict[int, socket.socket] = {}  # pid -> its connection
    running: dict[socket.socket, int] = {}  # connection -> pid
    sys.stdout.write("ready\n")
    sys.stdout.flush()

    def close(connection: socket.socket) -> None:
        pid = running.pop(connection, None)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        selector.unregister(connection)
        connection.close()

    while True:
        for key, _ in selector.select():
            source = key.fileobj
            if source is control:
                try:
                    _, fds, _, _ = socket.recv_fds(control, 16, 1)
                except OSError:
                    fds = []
                if not fds:  # the worker is gone
                    for pid in children:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                    return 0
                selector.register(socket.socket(fileno=fds[0]), selectors.EVENT_READ)
            elif source == wake_read:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_read, 4096)
            else:
                connection = source
                try:
                    header, fds, _, _ = socket.recv_fds(connection, 65536, 2)
                except OSError:
                    header, fds = b"", []
                if len(fds) != 2 or connection in running:
                    for fd in fds:
                        os.close(fd)
                    close(connection)
                    continue
                pid = os.fork()
                if pid == 0:
                    for registered in list(selector.get_map().values()):
                        with contextlib.suppress(OSError):
                            os.close(registered.fd)
                    os.close(wake_write)
                    _parse_in_child(header, fds[0], fds[1])
                for fd in fds:
                    os.close(fd)
                children[pid] = connection
                running[connection] = pid
                with contextlib.suppress(OSError):
                    connection.sendall(f"pid {pid}\n".encode())
        _reap(children, running)


def _reap(children: dict[int, socket.socket], running: dict[socket.socket, int]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        connection = children.pop(pid, None)
        if connection is not None and running.get(connection) == pid:
            del running[connection]
            with contextlib.suppress(OSError):
                connection.sendall(f"exit {os.waitstatus_to_exitcode(status)}\n".encode())


def _parse_in_child(header: bytes, source_fd: int, answer_fd: int) -> None:
    """One document, in a process of its own: never returns."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()  # a signal meant for the server's group does not reach it
        _die_with_the_worker()  # here: with the fork server
        arguments = json.loads(header)
        limits = ExtractionLimits(**arguments["limits"])
        _limit_this_process(limits)
        with open(source_fd, "rb") as source:
            data = source.read()
        answer = _answer(
            data, arguments["content_type"], limits, bool(arguments.get("main_content"))
        )
        with open(answer_fd, "wb") as output:
            output.write(json.dumps(answer).encode())
        code = 0
    except MemoryError:
        with contextlib.suppress(BaseException), open(answer_fd, "wb", closefd=False) as out:
            out.write(json.dumps(_memory_exceeded(limits)).encode())
        code = 0
    except BaseException:
        with contextlib.suppress(BaseException):
            traceback.print_exc()
    finally:
        os._exit(code)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--fork-server"]:
        sys.exit(_fork_server_main(int(sys.argv[2])))
    sys.exit(_child_main())

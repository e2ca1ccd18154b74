"""``manage.py shell -c`` without starting Django for every call.

The browser and fault beds set themselves up (``migrate_schemas``, ``sync_ai_models``)
and the browser tests arrange data (``Platform.shell``: about thirty snippets a run)
with Python run against the bed's database. Each used to start a ``manage.py``
process (importing the project: seconds of CPU apiece). One process started with
the bed's environment now runs them one after the other, each in a fresh namespace,
its output captured, and the database connections closed afterwards as a process
exiting would. It is a separate process as before: the code never runs in pytest's
(Playwright's event loop is there) and sees only what is committed.

    python -m tests.shell     # reads {"code": ...} lines, answers {"ok", "output"}
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import select
import subprocess
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class ShellError(RuntimeError):
    pass


class Shell:
    """The client: ``Shell(env).run(code)`` returns what the code printed."""

    def __init__(self, env: dict, log: Path):
        self.log = open(log, "a")  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.shell"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            start_new_session=True,
        )

    def call_command(self, *args: str, timeout: float = 600) -> str:
        """``manage.py <args>`` in the shell's process."""
        return self.run(
            f"from django.core.management import call_command\ncall_command(*{list(args)!r})",
            timeout=timeout,
        )

    def run(self, code: str, timeout: float = 300) -> str:
        if self.process.poll() is not None:
            raise ShellError(f"the shell process exited with {self.process.returncode}")
        self.process.stdin.write(json.dumps({"code": code}) + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            self.close()
            raise ShellError(f"no answer from the shell within {timeout} s:\n{code}")
        answer = json.loads(line)
        if not answer["ok"]:
            raise ShellError(f"shell code failed:\n{answer['output'][-3000:]}")
        return answer["output"]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.log.close()


def serve() -> None:
    """The server: Django set up once, then each request's code as ``shell -c`` runs it."""
    # Answers go on a descriptor of their own; anything else written to stdout (a
    # logging handler, a C library) goes to stderr, the log.
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    from config import localservices

    localservices.ensure_services()
    import django

    django.setup()
    from django.db import connections

    for line in sys.stdin:
        code = json.loads(line)["code"]
        output = io.StringIO()
        ok = True
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            try:
                exec(compile(code, "<shell>", "exec"), {"__name__": "__main__"})  # noqa: S102
            except SystemExit as exit_:
                ok = exit_.code in (None, 0)
            except Exception:  # the caller fails with the traceback
                ok = False
                traceback.print_exc()
        # As the process ending would: the next call starts afresh, in the public schema.
        for connection in connections.all():
            connection.close()
            if hasattr(connection, "set_schema_to_public"):
                connection.set_schema_to_public()
        answers.write(json.dumps({"ok": ok, "output": output.getvalue()}) + "\n")
        answers.flush()


if __name__ == "__main__":
    serve()

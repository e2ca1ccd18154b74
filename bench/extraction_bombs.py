"""How fast each upload bomb is refused, and what it costs the worker (docs/security.md).

    .venv/bin/python bench/extraction_bombs.py [--main-cap SECONDS]

For each bomb of tests/security/bombs.py, a fresh process plays the worker: it calls
`extract_isolated` (the parse in its rlimited child) with the default limits and reports
the wall time until the refusal, the parsing child's CPU time, its own peak RSS and the
child's. The same run
measures an honest one-page document through the same path (the baseline: what any
document costs, mostly the child's start-up), and prints each bomb as a ratio of it.

With `--main-cap`, each bomb is also given to main's extraction (c623b0e, in-process, as
the worker ran it before), killed after that many seconds if it has not finished.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.security import bombs  # noqa: E402

MAIN_COMMIT = "c623b0e"

_WORKER = """
import json, resource, sys, time
from knowledge_base.extraction import detect_content_type
from knowledge_base.extraction.sandbox import extract_isolated
name, path = sys.argv[1], sys.argv[2]
data = open(path, "rb").read()
started = time.monotonic()
try:
    extract_isolated(data, detect_content_type(data, name))
    outcome = "completed"
except Exception as exc:
    outcome = getattr(exc, "message", repr(exc))
seconds = time.monotonic() - started
# VmHWM: this process's own peak RSS (ru_maxrss would include what the parent held before exec).
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
children = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"seconds": seconds, "outcome": outcome, "worker_mb": int(hwm) / 1024,
    "child_cpu": children.ru_utime + children.ru_stime}))
"""

_MAIN = """
import importlib.util, json, resource, sys, time
spec = importlib.util.spec_from_file_location("main_extraction", sys.argv[3])
module = importlib.util.module_from_spec(spec)
sys.modules["main_extraction"] = module
spec.loader.exec_module(module)
name, path = sys.argv[1], sys.argv[2]
data = open(path, "rb").read()
started = time.monotonic()
try:
    module.extract_upload(data, name)
    outcome = "completed"
except Exception as exc:
    outcome = getattr(exc, "message", repr(exc))
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
print(json.dumps({"seconds": time.monotonic() - started, "outcome": outcome,
    "worker_mb": int(hwm) / 1024}))
"""


def _honest() -> tuple[str, bytes]:
    import docx

    document = docx.Document()
    document.add_heading("Handbook", 1)
    for n in range(20):
        document.add_paragraph(f"Paragraph {n}: how refunds and passwords work.")
    path = Path(tempfile.mkdtemp()) / "honest.docx"
    document.save(path)
    return "honest.docx", path.read_bytes()


def _run(code: str, name: str, data: bytes, *extra: str, cap: float | None = None) -> dict:
    """Run `code` in a fresh process. Its children's peak RSS (the parse) is sampled every
    50 ms, and so is its own, which is what is known when the cap kills it."""
    import psutil

    with tempfile.NamedTemporaryFile(suffix=name) as handle:
        handle.write(data)
        handle.flush()
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-c", code, name, handle.name, *extra],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        watched, peak, child_peak = psutil.Process(process.pid), 0.0, 0.0
        while process.poll() is None:
            try:
                peak = max(peak, watched.memory_info().rss / 1024**2)
                for child in watched.children(recursive=True):
                    child_peak = max(child_peak, child.memory_info().rss / 1024**2)
            except psutil.Error:
                pass
            if cap and time.monotonic() - started > cap:
                process.kill()
                process.wait()
                return {
                    "seconds": time.monotonic() - started,
                    "outcome": f"still parsing after {cap:.0f} s, killed",
                    "worker_mb": peak,
                }
            time.sleep(0.05)
        stdout, stderr = process.communicate()
    if process.returncode != 0:
        return {"seconds": time.monotonic() - started, "outcome": stderr[-300:]}
    return {**json.loads(stdout.strip().splitlines()[-1]), "child_mb": child_peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--main-cap", type=float, default=0, help="also run main's code")
    args = parser.parse_args()
    cases = {
        "honest one-page .docx (baseline)": _honest,
        "DOCX, 40 MB of tiny paragraphs": bombs.docx_tiny_paragraphs,
        "DOCX zip bomb (1 GB inflated)": bombs.docx_zip_bomb,
        "DOCX billion laughs": bombs.docx_billion_laughs,
        "PDF, 131,072 pages": bombs.pdf_many_pages,
        "CSV, 1,000,000 columns": bombs.csv_many_columns,
    }
    main_module = None
    if args.main_cap:
        source = subprocess.run(
            ["git", "show", f"{MAIN_COMMIT}:knowledge_base/extraction.py"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
        main_module = Path(tempfile.mkdtemp()) / "main_extraction.py"
        main_module.write_bytes(source)
    baseline = None
    print(
        f"{'case':36} {'size':>9} {'refused in':>10} {'x base':>7} {'child CPU':>9} "
        f"{'worker':>8} {'child':>8}"
    )
    for label, build in cases.items():
        name, data = build()
        measured = _run(_WORKER, name, data)
        baseline = baseline or measured["seconds"]
        print(
            f"{label:36} {len(data) / 1024:7.0f}KB {measured['seconds']:9.2f}s "
            f"{measured['seconds'] / baseline:6.1f}x {measured.get('child_cpu', 0):8.2f}s "
            f"{measured.get('worker_mb', 0):6.0f}MB "
            f"{measured.get('child_mb', 0):6.0f}MB  {measured['outcome'][:90]}"
        )
        if main_module is not None:
            before = _run(_MAIN, name, data, str(main_module), cap=args.main_cap)
            print(
                f"{'  main (in-process)':36} {'':9} {before['seconds']:9.2f}s "
                f"{before['seconds'] / baseline:6.1f}x {'':9} {before.get('worker_mb', 0):6.0f}MB "
                f"{'':8}  {before['outcome'][:90]}"
            )


if __name__ == "__main__":
    main()

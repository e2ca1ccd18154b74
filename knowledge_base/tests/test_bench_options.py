"""The retrieval benchmarks' command lines (docs/benchmarks.md: every bench has --quick)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("bench", ["embeddings.py", "scifact.py", "search.py", "rerank.py"])
def test_every_retrieval_bench_has_a_quick_mode(bench):
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / bench), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--quick" in result.stdout

"""The README's configuration table names every environment variable the code reads."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READ_PATTERN = re.compile(
    r"""(?:env(?:\.(?:bool|int|list|float|str))?|environ\.get|getenv)\(\s*["']([A-Z][A-Z0-9_]+)["']"""
)


def _variables_read_by_code() -> set[str]:
    names = set()
    for path in ROOT.rglob("*.py"):
        if any(part in {".venv", "node_modules", "tests"} for part in path.parts):
            continue
        names |= set(READ_PATTERN.findall(path.read_text()))
    return names


def test_every_environment_variable_is_documented():
    readme = (ROOT / "README.md").read_text()
    variables = _variables_read_by_code()
    assert "SECRET_KEY" in variables  # the scan sees the settings
    missing = sorted(v for v in variables if f"`{v}`" not in readme)
    assert not missing, f"add to the README configuration table: {missing}"

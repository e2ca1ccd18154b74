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


LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_every_link_of_the_docs_stays_in_the_repository_and_resolves():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    broken = []
    for page in pages:
        for target in LINK.findall(page.read_text()):
            if re.match(r"[a-z]+:", target):  # https:, mailto: ...
                continue
            resolved = (page.parent / target).resolve()
            if not resolved.is_relative_to(ROOT) or not resolved.exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, f"links leaving the repository or to nothing: {broken}"

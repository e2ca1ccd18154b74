"""Write `.env.example` from the README's configuration table (the one source).

Every variable of the table appears, with its meaning and default as a comment; the
ones a deployment must set are uncommented with a placeholder. `--check` exits 1 when
the file is out of date (tests/test_deploy_files.py runs it).

    python infra/env_example.py          # rewrite .env.example
    python infra/env_example.py --check
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / ".env.example"
# What a production deployment must set (config/settings/prod.py refuses to start
# without the first two); placeholders, never real values.
REQUIRED = {
    "DJANGO_SETTINGS_MODULE": "config.settings.prod",
    "SECRET_KEY": "change-me-to-50-or-more-random-characters",
    "CREDENTIALS_ENCRYPTION_KEYS": "change-me-generate-with-python-c-secrets-token-urlsafe-32",
    "BASE_DOMAIN": "assistants.example.com",
    "DATABASE_URL": "postgres://platform:platform@postgres:5432/platform",
    "REDIS_URL": "redis://redis:6379/0",
}


def table_rows() -> list[tuple[list[str], str, str]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Configuration", 1)[1]
    rows = []
    for line in section.splitlines():
        if line.startswith("## "):
            break
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        names = re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0])
        rows.append((names, cells[1] if len(cells) > 1 else "", cells[2] if len(cells) > 2 else ""))
    return rows


def render() -> str:
    lines = [
        "# Environment of a deployment (infra/compose.yaml reads ../.env; Kubernetes takes the",
        "# same names from the ConfigMap and the Secret). Generated from the README's",
        "# configuration table by infra/env_example.py: edit the README, then run it.",
        "",
    ]
    for names, default, meaning in table_rows():
        plain = re.sub(r"`", "", f"{meaning} (default: {default})")
        lines.append(f"# {plain}")
        for name in names:
            if name in REQUIRED:
                lines.append(f"{name}={REQUIRED[name]}")
            else:
                lines.append(f"# {name}=")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    content = render()
    if "--check" in sys.argv:
        if not TARGET.exists() or TARGET.read_text() != content:
            print(".env.example is out of date: run python infra/env_example.py")
            return 1
        return 0
    TARGET.write_text(content)
    return 0


if __name__ == "__main__":
    sys.exit(main())

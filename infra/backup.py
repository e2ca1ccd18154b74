"""Back up and restore the platform's database with PostgreSQL's own tools.

The whole database is the backup (every organization is a schema in it, the public
schema holds who belongs where). One organization's content is its schema.

    python infra/backup.py dump FILE [--organization SLUG]
    python infra/backup.py restore FILE --into URL            # an empty database
    python infra/backup.py restore FILE --organization SLUG   # replace that schema

DATABASE_URL names the database (the embedded one in development). The dumps are
pg_dump's custom format (compressed, restorable table by table with pg_restore).
Restoring one organization replaces its schema only: its public rows (organization,
domain, memberships, API keys, usage) are untouched, so restore into the same
platform it came from. tests/test_backup.py runs both against a real database.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def tool(name: str) -> str:
    """The server's own pg_dump/pg_restore when it is the embedded one, else PATH's."""
    found = shutil.which(name)
    try:
        from config import localservices

        embedded = localservices._pg_bin(name)
        if Path(embedded).exists():
            return embedded
    except Exception:  # noqa: S110 - no embedded server here: PATH's tool
        pass
    if not found:
        raise SystemExit(f"{name} not found: install PostgreSQL's client tools")
    return found


def database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    from config import localservices

    return localservices.ensure_postgres()


def dump(file: str, organization: str | None, url: str) -> None:
    command = [tool("pg_dump"), "--format=custom", "--no-owner", f"--file={file}"]
    if organization:
        command.append(f"--schema={organization}")
    subprocess.run([*command, url], check=True)


def restore(file: str, *, into: str | None, organization: str | None, url: str) -> None:
    if organization:
        # The organization's schema only, replaced in one transaction.
        import psycopg

        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{organization}" CASCADE')
            # pg_restore --schema restores what is in the schema, not the schema itself.
            connection.execute(f'CREATE SCHEMA "{organization}"')
        target = url
        extra = [f"--schema={organization}"]
    else:
        if not into:
            raise SystemExit("restore the whole database --into an empty database's URL")
        target, extra = into, []
    subprocess.run(
        [
            tool("pg_restore"),
            "--no-owner",
            "--exit-on-error",
            "--single-transaction",
            *extra,
            f"--dbname={target}",
            file,
        ],
        check=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    d = sub.add_parser("dump")
    d.add_argument("file")
    d.add_argument("--organization")
    r = sub.add_parser("restore")
    r.add_argument("file")
    r.add_argument("--into")
    r.add_argument("--organization")
    args = parser.parse_args()
    url = database_url()
    if args.action == "dump":
        dump(args.file, args.organization, url)
    else:
        restore(args.file, into=args.into, organization=args.organization, url=url)
    return 0


if __name__ == "__main__":
    sys.exit(main())

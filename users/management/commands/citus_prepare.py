"""Prepare the public schema for Citus's schema-based sharding (docs/scale-out.md).

Each organization's schema becomes a distributed schema, placed whole on one worker.
Its tables keep foreign keys to two public tables (users, and the AI model catalog);
Citus enforces a foreign key only when both rows live on the same node, so those two
become reference tables (replicated to every node). Citus then turns the public
tables linked to them into Citus local tables, which restarts their identity
sequences: each is set past its highest id again.

Idempotent: run it after `migrate_schemas --shared` on a Citus coordinator, before
organizations are created or moved (make citus-check does).
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

# Public tables that organization tables reference (found by the check below).
REFERENCE_TABLES = ["users_user", "catalog_aimodel"]


class Command(BaseCommand):
    help = "Make the public tables organizations reference into Citus reference tables."

    def handle(self, *args, **options):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'citus'")
            if cursor.fetchone() is None:
                raise CommandError("This database has no Citus extension.")
            for table in REFERENCE_TABLES:
                cursor.execute(
                    "SELECT 1 FROM pg_dist_partition WHERE logicalrelid = %s::regclass"
                    " AND partmethod = 'n' AND repmodel = 't'",
                    [f"public.{table}"],
                )
                if cursor.fetchone() is None:
                    cursor.execute("SELECT create_reference_table(%s)", [f"public.{table}"])
                    cursor.execute(
                        "SELECT truncate_local_data_after_distributing_table(%s)",
                        [f"public.{table}"],
                    )
                    self.stdout.write(f"reference table: {table}")
            # Identity sequences of public tables, each set past its table's highest id.
            cursor.execute(
                "SELECT table_name, column_name FROM information_schema.columns"
                " WHERE table_schema = 'public' AND is_identity = 'YES'"
            )
            for table, column in cursor.fetchall():
                cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [f"public.{table}", column])
                (sequence,) = cursor.fetchone()
                if sequence:
                    quote = connection.ops.quote_name
                    highest = f"SELECT max({quote(column)}) FROM public.{quote(table)}"  # noqa: S608 - names from the catalog, quoted
                    cursor.execute(
                        f"SELECT setval(%s, GREATEST(({highest}), 0) + 1, false)", [sequence]
                    )
        self.stdout.write(self.style.SUCCESS("Public schema ready for schema-based sharding."))

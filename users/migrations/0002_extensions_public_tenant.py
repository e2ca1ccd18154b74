"""Database extensions and the public organization row.

vector (pgvector) and pg_trgm are created in the public schema, which is on
every organization's search path, so tenant tables can use them.
"""

from django.contrib.postgres.operations import CreateExtension
from django.db import migrations


def create_public_organization(apps, schema_editor):
    Organization = apps.get_model("users", "Organization")
    Organization.objects.get_or_create(
        schema_name="public", defaults={"name": "Platform", "plan": "internal"}
    )


class Migration(migrations.Migration):
    dependencies = [("users", "0001_initial")]

    operations = [
        CreateExtension("vector"),
        CreateExtension("pg_trgm"),
        migrations.RunPython(create_public_organization, migrations.RunPython.noop),
    ]

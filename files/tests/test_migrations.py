"""Migration files.0002 keeps what the old ``summary`` column said: a failure's reason
moves to ``error``, a page count to ``page_count``. Run on the real table with the
migration's own historical model (the column put back for the test's transaction)."""

import importlib

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django_tenants.utils import schema_context

from files.models import File

MIGRATION = "0002_file_one_extraction_attachments_settings"


def _state_before_the_column_goes():
    loader = MigrationLoader(connection)
    state = loader.project_state(("files", "0001_initial"))
    migration = loader.get_migration("files", MIGRATION)
    # Every operation up to (not including) the data move and the column's removal.
    for operation in migration.operations[:-2]:
        operation.state_forwards("files", state)
    return state.apps


@pytest.mark.django_db
def test_failure_reasons_and_page_counts_survive(org_a):
    module = importlib.import_module(f"files.migrations.{MIGRATION}")
    with schema_context(org_a.slug):
        with connection.cursor() as cursor:
            cursor.execute(
                "ALTER TABLE files_file ADD COLUMN summary varchar(500) NOT NULL DEFAULT ''"
            )
        apps = _state_before_the_column_goes()
        Historical = apps.get_model("files", "File")
        common = {"content_type": "application/pdf", "size": 1, "sha256": "0" * 64}
        failed = Historical.objects.create(
            name="bad.pdf", status="failed", summary="The PDF is encrypted.", **common
        )
        done = Historical.objects.create(
            name="good.pdf", status="processed", summary="12 chunks, 3 pages", **common
        )
        plain = Historical.objects.create(
            name="x.txt", status="processed", summary="4 chunks", **common
        )

        module.summary_to_error(apps, None)

        assert File.objects.get(pk=failed.pk).error == "The PDF is encrypted."
        assert File.objects.get(pk=done.pk).page_count == 3
        assert File.objects.get(pk=done.pk).error == ""
        assert File.objects.get(pk=plain.pk).page_count is None

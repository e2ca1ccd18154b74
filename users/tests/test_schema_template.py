"""Sign-up clones the migrated template schema (core/schema_template.py, ADR 0054).

The clone must be the same schema the migrations build: every table, column, type,
default, constraint (by name), index (pgvector HNSW and GIN included), sequence and
applied migration. A stale or missing template is never cloned.
"""

import logging
from types import SimpleNamespace

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from chat.models import ConversationSettings
from core import schema_template
from knowledge_base.models import Document, DocumentChunk, DocumentStatus
from tests.factories import make_assistant
from tests.helpers import PASSWORD, schema_exists
from users import services
from users.models import Organization


def _created_as(caplog, slug: str) -> str:
    messages = [r.getMessage() for r in caplog.records if r.name == "users.services"]
    found = [m for m in messages if m.startswith(f"organization created: {slug} ")]
    assert found, messages
    return found[-1].rsplit("schema ", 1)[1].rstrip(")")


def _comment_template(text: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"COMMENT ON SCHEMA {schema_template.TEMPLATE_SCHEMA} IS %s", [text])


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.INFO, logger="users.services")
    return caplog


@pytest.mark.django_db
class TestCloning:
    def test_the_test_database_has_a_fresh_template(self):
        # `migrate` (run by the test database's creation) built it and proved it
        assert schema_template.template_state() == schema_template.migrations_fingerprint()
        assert schema_template.template_fresh()

    def test_a_cloned_schema_is_identical_to_a_migrated_one(self, logs, settings):
        # given: one organization migrated the old way, one cloned
        settings.TENANT_SCHEMA_CLONING = False
        services.organization_create(name="Migrated", slug="tenantsmigrated")
        settings.TENANT_SCHEMA_CLONING = True
        services.organization_create(name="Cloned", slug="tenantscloned")
        assert _created_as(logs, "tenantsmigrated") == "migrated"
        assert _created_as(logs, "tenantscloned") == "cloned"

        # when
        migrated = schema_template.schema_catalog("tenantsmigrated")
        cloned = schema_template.schema_catalog("tenantscloned")

        # then: nothing differs, and what is compared is the whole schema
        assert schema_template.catalog_differences(migrated, cloned) == []
        indexes = dict(cloned["indexes"])
        assert "USING hnsw" in indexes["chunk_embedding_hnsw_384"]
        assert "USING hnsw" in indexes["message_embedding_hnsw_384"]
        assert "USING gin" in indexes["chunk_search_vector_gin"]
        constraint_names = {c[1] for c in cloned["constraints"]}
        assert "assistants_assistant_col_assistant_id_collection__5feae785_uniq" in constraint_names
        assert any(c[2] == "f" for c in cloned["constraints"])
        assert len(cloned["migrations"]) == len(migrated["migrations"]) > 50
        assert (
            dict((s[0], s[-1]) for s in cloned["sequences"])["django_migrations_id_seq"]
            == dict((s[0], s[-1]) for s in migrated["sequences"])["django_migrations_id_seq"]
        )

    def test_the_comparison_notices_a_renamed_constraint_and_a_missing_index(self, org_a):
        # given: alpha's schema with one unique constraint renamed and one index dropped
        before = schema_template.schema_catalog(org_a.slug)
        with schema_context(org_a.slug), connection.cursor() as cursor:
            cursor.execute(
                "ALTER TABLE chat_message_attachments RENAME CONSTRAINT "
                "chat_message_attachments_message_id_file_id_ba4132f5_uniq TO renamed_uniq"
            )
            cursor.execute("DROP INDEX message_embedding_hnsw_384")

        # when
        differences = schema_template.catalog_differences(
            before, schema_template.schema_catalog(org_a.slug)
        )

        # then
        text = "\n".join(differences)
        assert "renamed_uniq" in text
        assert "chat_message_attachments_message_id_file_id_ba4132f5_uniq" in text
        assert "message_embedding_hnsw_384" in text

    def test_a_cloned_organization_works_like_a_migrated_one(self, logs):
        # given: a sign-up through the service
        result = services.signup(
            email="owner@tenantsworks.test",
            password=PASSWORD,
            organization_name="Works",
            slug="tenantsworks",
        )
        assert _created_as(logs, "tenantsworks") == "cloned"
        org = SimpleNamespace(
            slug="tenantsworks", admin=result.user, organization=result.organization
        )

        # when: an assistant with a processed handbook (embedded, chunked, indexed)
        make_assistant(org)

        # then: its documents are ready, their chunks searchable by words and vectors,
        # and identity columns start from 1 as in a migrated schema
        with schema_context("tenantsworks"):
            assert {d.status for d in Document.objects.all()} == {DocumentStatus.COMPLETED}
            assert DocumentChunk.objects.filter(embedding__isnull=False).exists()
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM knowledge_base_documentchunk "
                    "WHERE search_vector::text LIKE '%%warehous%%'"
                )
                assert cursor.fetchone()[0] > 0
            assert ConversationSettings.objects.create().pk == 1

    def test_a_stale_template_is_not_cloned(self, logs):
        # given: the template was built for other migrations
        _comment_template("an older migration graph")

        # when
        services.organization_create(name="Stale", slug="tenantsstale")

        # then: migrated instead, and complete
        assert _created_as(logs, "tenantsstale") == "migrated"
        assert len(schema_template.schema_catalog("tenantsstale")["migrations"]) > 50

    def test_a_missing_template_is_not_cloned(self, logs):
        # given
        with connection.cursor() as cursor:
            cursor.execute(f"DROP SCHEMA {schema_template.TEMPLATE_SCHEMA} CASCADE")

        # when
        services.organization_create(name="Missing", slug="tenantsmissing")

        # then
        assert _created_as(logs, "tenantsmissing") == "migrated"
        assert schema_exists("tenantsmissing")

    def test_a_failure_half_way_through_the_clone_leaves_nothing_behind(self):
        # given: PostgreSQL refuses the clone's HNSW index (an event trigger), once the
        # clone has already created the schema, its tables and its rows
        with connection.cursor() as cursor:
            cursor.execute(
                """CREATE FUNCTION public.tenants_refuse_hnsw() RETURNS event_trigger
                   LANGUAGE plpgsql AS $$
                   BEGIN
                     IF EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands()
                                WHERE schema_name = 'tenantsbroken'
                                AND object_identity LIKE '%hnsw%') THEN
                       RAISE EXCEPTION 'disk full';
                     END IF;
                   END $$"""
            )
            cursor.execute(
                "CREATE EVENT TRIGGER tenants_refuse_hnsw ON ddl_command_end "
                "WHEN TAG IN ('CREATE INDEX') EXECUTE FUNCTION public.tenants_refuse_hnsw()"
            )

        # when
        with pytest.raises(Exception, match="disk full"):
            services.signup(
                email="x@tenantsbroken.test",
                password=PASSWORD,
                organization_name="Broken",
                slug="tenantsbroken",
            )

        # then
        connection.set_schema_to_public()
        assert not Organization.objects.filter(schema_name="tenantsbroken").exists()
        assert not schema_exists("tenantsbroken")


def test_migrate_rebuilds_a_stale_template(django_db_blocker):
    """`migrate` over all tenants rebuilds a stale template and proves it by a clone
    (committed: the template lives outside any test's transaction)."""
    with django_db_blocker.unblock():
        # given
        _comment_template("an older migration graph")
        assert not schema_template.template_fresh()

        # when
        state = schema_template.template_ensure()

        # then
        assert state == "built"
        assert schema_template.template_fresh()
        assert schema_template.template_ensure() == "fresh"

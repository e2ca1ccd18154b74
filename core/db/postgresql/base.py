"""PostgreSQL as Django's backend, with migrations that Citus can run.

django-tenants wraps this backend (``ORIGINAL_BACKEND``, config/settings/database.py).
The one difference from Django's: on a database with the Citus extension (the
scale-out path, docs/scale-out.md), a column added with a CHECK constraint gets the
constraint's name spelled out. Citus refuses ``ALTER TABLE ... ADD COLUMN ... CHECK``
on a distributed table unless every constraint is named ("all constraints in Citus
must have explicit names"); Django leaves naming to PostgreSQL there. Without Citus
nothing changes, so existing databases keep their constraint names.
"""

from django.db.backends.postgresql import base, schema


class DatabaseSchemaEditor(schema.DatabaseSchemaEditor):
    def add_field(self, model, field):
        if not self.connection.has_citus:
            return super().add_field(model, field)
        name = self._create_index_name(model._meta.db_table, [field.column], suffix="_check")
        self.sql_check_constraint = f"CONSTRAINT {self.quote_name(name)} CHECK (%(check)s)"
        try:
            return super().add_field(model, field)
        finally:
            del self.sql_check_constraint  # back to the class's unnamed form


class DatabaseWrapper(base.DatabaseWrapper):
    SchemaEditorClass = DatabaseSchemaEditor

    @property
    def has_citus(self) -> bool:
        if getattr(self, "_has_citus", None) is None:
            with self.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'citus'")
                self._has_citus = cursor.fetchone() is not None
        return self._has_citus

"""HNSW indexes for the embedding dimensions of the catalog's models.

Built in the organization's schema by the tenant migrations; a collection with
another dimension creates its own index (knowledge_base.vector_indexes).
"""

from django.db import migrations

from knowledge_base.vector_indexes import STANDARD_DIMENSIONS, create_index_sql, index_name


class Migration(migrations.Migration):
    dependencies = [("knowledge_base", "0001_initial")]

    operations = [
        migrations.RunSQL(create_index_sql(d), reverse_sql=f"DROP INDEX IF EXISTS {index_name(d)}")
        for d in STANDARD_DIMENSIONS
    ]

"""The keyword index's postings table and per-word score bounds (docs/adr/0062).

``ChunkTerm`` is created by hand so that its primary key covers the columns a search
reads (``PRIMARY KEY (term_id, chunk_id) INCLUDE (frequency, length)``): keyword search
reads a word's postings with an index-only scan. Existing collections are indexed again.
"""

import django.db.models.deletion
from django.db import migrations, models


def reindex_collections(apps, schema_editor):
    from knowledge_base.retrieval.text_index import collection_reindex

    Collection = apps.get_model("knowledge_base", "Collection")
    for collection_id in Collection.objects.values_list("id", flat=True):
        collection_reindex(collection_id)


CREATE_TABLE = """
    CREATE TABLE knowledge_base_chunkterm (
        term_id bigint NOT NULL,
        chunk_id bigint NOT NULL,
        frequency smallint NOT NULL CHECK (frequency >= 0),
        length integer NOT NULL CHECK (length >= 0),
        CONSTRAINT knowledge_base_chunkterm_pk
            PRIMARY KEY (term_id, chunk_id) INCLUDE (frequency, length)
    )
"""


class Migration(migrations.Migration):
    dependencies = [
        ("knowledge_base", "0004_keyword_index_language_bm25_statistics"),
    ]

    operations = [
        migrations.AddField(
            model_name="collectionterm",
            name="max_frequency",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="collectionterm",
            name="min_length",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(CREATE_TABLE, "DROP TABLE knowledge_base_chunkterm"),
            ],
            state_operations=[
                migrations.CreateModel(
                    name="ChunkTerm",
                    fields=[
                        (
                            "pk",
                            models.CompositePrimaryKey(
                                "term_id",
                                "chunk_id",
                                blank=True,
                                editable=False,
                                primary_key=True,
                                serialize=False,
                            ),
                        ),
                        ("frequency", models.PositiveSmallIntegerField()),
                        ("length", models.PositiveIntegerField()),
                        (
                            "chunk",
                            models.ForeignKey(
                                db_constraint=False,
                                db_index=False,
                                on_delete=django.db.models.deletion.DO_NOTHING,
                                related_name="+",
                                to="knowledge_base.documentchunk",
                            ),
                        ),
                        (
                            "term",
                            models.ForeignKey(
                                db_constraint=False,
                                db_index=False,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="knowledge_base.collectionterm",
                            ),
                        ),
                    ],
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="document",
            index=models.Index(
                condition=models.Q(("status", "completed"), _negated=True),
                fields=["collection"],
                name="document_unfinished",
            ),
        ),
        migrations.RunPython(reindex_collections, migrations.RunPython.noop),
    ]

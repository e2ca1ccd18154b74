"""Per-collection text-search language, title and headings in the keyword index, and
BM25 statistics kept incrementally (docs/adr/0023, 0024).

``search_vector`` stops being a generated column (which could use neither the
document's title nor a per-collection language): it is written with the chunk.
Existing chunks are indexed again and each collection's statistics built once.
"""

import django.contrib.postgres.search
import django.db.models.deletion
from django.contrib.postgres.indexes import GinIndex
from django.db import migrations, models


def reindex_collections(apps, schema_editor):
    from knowledge_base.retrieval.text_index import collection_reindex

    Collection = apps.get_model("knowledge_base", "Collection")
    for collection_id in Collection.objects.values_list("id", flat=True):
        collection_reindex(collection_id)


class Migration(migrations.Migration):
    dependencies = [
        ("knowledge_base", "0003_document_lease"),
    ]

    operations = [
        migrations.AddField(
            model_name="collection",
            name="language",
            field=models.CharField(
                choices=[
                    ("simple", "Simple"),
                    ("arabic", "Arabic"),
                    ("danish", "Danish"),
                    ("dutch", "Dutch"),
                    ("english", "English"),
                    ("finnish", "Finnish"),
                    ("french", "French"),
                    ("german", "German"),
                    ("greek", "Greek"),
                    ("hungarian", "Hungarian"),
                    ("indonesian", "Indonesian"),
                    ("irish", "Irish"),
                    ("italian", "Italian"),
                    ("lithuanian", "Lithuanian"),
                    ("nepali", "Nepali"),
                    ("norwegian", "Norwegian"),
                    ("portuguese", "Portuguese"),
                    ("romanian", "Romanian"),
                    ("russian", "Russian"),
                    ("spanish", "Spanish"),
                    ("swedish", "Swedish"),
                    ("tamil", "Tamil"),
                    ("turkish", "Turkish"),
                ],
                default="english",
                max_length=32,
            ),
        ),
        migrations.AddField(
            model_name="collection",
            name="text_chunks",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="collection",
            name="text_length",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="collection",
            name="unaccent",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="documentchunk",
            name="search_length",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.RemoveIndex(model_name="documentchunk", name="chunk_search_vector_gin"),
        migrations.RemoveField(model_name="documentchunk", name="search_vector"),
        migrations.AddField(
            model_name="documentchunk",
            name="search_vector",
            field=django.contrib.postgres.search.SearchVectorField(null=True),
        ),
        migrations.AddIndex(
            model_name="documentchunk",
            index=GinIndex(fields=["search_vector"], name="chunk_search_vector_gin"),
        ),
        # unaccent() for collections that ask for it; the public schema is on every
        # organization's search path (like vector and pg_trgm).
        migrations.RunSQL(
            "CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA public", migrations.RunSQL.noop
        ),
        migrations.CreateModel(
            name="CollectionTerm",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("lexeme", models.TextField()),
                ("chunks", models.PositiveIntegerField()),
                (
                    "collection",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="knowledge_base.collection",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("collection", "lexeme"), name="collection_term_unique"
                    )
                ],
            },
        ),
        migrations.RunPython(reindex_collections, migrations.RunPython.noop),
    ]

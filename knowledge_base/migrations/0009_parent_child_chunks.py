# Parent-child chunking (ADR 0103): the collection's setting, the parents' table, and
# DocumentChunk.parent pointing at it (it pointed at another chunk and was never written).

import django.core.validators
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("knowledge_base", "0008_evaluation_rerank"),
    ]

    operations = [
        # Existing collections keep the chunks they have: flat. New ones get the default.
        migrations.AddField(
            model_name="collection",
            name="chunking",
            field=models.CharField(
                choices=[("flat", "Flat"), ("parent_child", "Parent-child")],
                default="flat",
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="collection",
            name="chunking",
            field=models.CharField(
                choices=[("flat", "Flat"), ("parent_child", "Parent-child")],
                default="parent_child",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="collection",
            name="parent_size",
            field=models.PositiveIntegerField(
                default=1000,
                validators=[
                    django.core.validators.MinValueValidator(100),
                    django.core.validators.MaxValueValidator(8000),
                ],
            ),
        ),
        migrations.CreateModel(
            name="DocumentSection",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("index", models.PositiveIntegerField()),
                ("content", models.TextField()),
                ("token_count", models.PositiveIntegerField()),
                ("page_number", models.PositiveIntegerField(blank=True, null=True)),
                ("page_end", models.PositiveIntegerField(blank=True, null=True)),
                ("section_title", models.CharField(blank=True, max_length=500)),
                (
                    "document",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="sections",
                        to="knowledge_base.document",
                    ),
                ),
            ],
            options={
                "ordering": ["document", "index"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("document", "index"), name="section_document_index_unique"
                    )
                ],
            },
        ),
        # Nothing wrote it: every value is null.
        migrations.AlterField(
            model_name="documentchunk",
            name="parent",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="children",
                to="knowledge_base.documentsection",
            ),
        ),
    ]

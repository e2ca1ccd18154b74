from decimal import Decimal

from django.db import migrations

GIB = 1024**3

PLANS = [
    # code, name, requests/min (org), requests/min (key), tokens/min, tokens/month,
    # cost/month, messages/month, documents, storage
    ("free", "Free", 600, 120, 200_000, 2_000_000, Decimal("25"), 5_000, 500, GIB),
    ("team", "Team", 3_000, 600, 1_000_000, 50_000_000, Decimal("500"), 100_000, 10_000, 20 * GIB),
    ("enterprise", "Enterprise", None, None, None, None, None, None, None, None),
]


def create_plans(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    fields = [
        "name",
        "requests_per_minute",
        "key_requests_per_minute",
        "tokens_per_minute",
        "monthly_tokens",
        "monthly_cost",
        "monthly_messages",
        "max_documents",
        "max_storage_bytes",
    ]
    for code, *values in PLANS:
        Plan.objects.get_or_create(code=code, defaults=dict(zip(fields, values, strict=True)))


class Migration(migrations.Migration):
    dependencies = [("billing", "0003_usagerecord_api_key")]

    operations = [migrations.RunPython(create_plans, migrations.RunPython.noop)]

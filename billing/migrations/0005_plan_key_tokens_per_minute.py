from django.db import migrations, models

# A quarter of the organization's minute for any one key (enterprise: no limit).
KEY_TOKENS_PER_MINUTE = {"free": 50_000, "team": 250_000}


def set_key_token_rates(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    for code, limit in KEY_TOKENS_PER_MINUTE.items():
        Plan.objects.filter(code=code).update(key_tokens_per_minute=limit)


class Migration(migrations.Migration):
    dependencies = [("billing", "0004_default_plans")]

    operations = [
        migrations.AddField(
            model_name="plan",
            name="key_tokens_per_minute",
            field=models.PositiveIntegerField(
                blank=True, help_text="AI tokens per minute for one API key.", null=True
            ),
        ),
        migrations.RunPython(set_key_token_rates, migrations.RunPython.noop),
    ]

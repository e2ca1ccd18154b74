from django.conf import settings
from django.db import migrations


def name_site(apps, schema_editor):
    Site = apps.get_model("sites", "Site")
    Site.objects.update_or_create(
        id=settings.SITE_ID, defaults={"domain": settings.BASE_DOMAIN, "name": "Assistant Platform"}
    )


class Migration(migrations.Migration):
    dependencies = [
        ("users", "0002_extensions_public_tenant"),
        ("sites", "0002_alter_domain_unique"),
    ]

    operations = [migrations.RunPython(name_site, migrations.RunPython.noop)]

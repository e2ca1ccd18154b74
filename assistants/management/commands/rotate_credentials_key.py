from django.core.management.base import BaseCommand
from django_tenants.utils import schema_context

from assistants import services
from users.models import Organization


class Command(BaseCommand):
    help = (
        "Re-encrypt every organization's provider credentials with the newest key in "
        "CREDENTIALS_ENCRYPTION_KEYS. Run after putting a new key first; then drop the old one."
    )

    def handle(self, *args, **options):
        total = 0
        for org in Organization.objects.exclude(schema_name="public"):
            with schema_context(org.schema_name):
                total += services.credentials_rotate_key()
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {total} credentials."))

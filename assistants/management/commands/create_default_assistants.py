from django.core.management.base import BaseCommand
from django_tenants.utils import schema_context

from assistants import services
from users.models import Organization


class Command(BaseCommand):
    help = "Create starter assistants in an organization (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--organization", required=True, help="Organization slug.")

    def handle(self, *args, organization, **options):
        org = Organization.objects.get(schema_name=organization)
        with schema_context(org.schema_name):
            created = services.assistants_create_defaults()
        names = ", ".join(a.name for a in created) or "none (they exist already)"
        self.stdout.write(
            self.style.SUCCESS(f"Starter assistants created in {organization}: {names}")
        )

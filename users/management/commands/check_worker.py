from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from users.tasks import organization_schema_status


class Command(BaseCommand):
    help = "Send a tenant task to the Celery workers and wait for its answer."

    def add_arguments(self, parser):
        parser.add_argument("--organization", default="acme", help="Organization slug.")
        parser.add_argument("--timeout", type=float, default=10.0)

    def handle(self, *args, organization, timeout, **options):
        with schema_context(organization):
            result = organization_schema_status.delay()
        try:
            answer = result.get(timeout=timeout)
        except Exception as exc:
            raise CommandError(f"No answer from a worker: {exc}") from exc
        self.stdout.write(self.style.SUCCESS(f"Worker answered: {answer}"))

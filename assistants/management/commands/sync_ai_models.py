from django.core.management.base import BaseCommand

from assistants.catalog.services import FIXTURE, ai_models_sync


class Command(BaseCommand):
    help = "Load or update the AI model catalog (capabilities and prices) from its fixture."

    def add_arguments(self, parser):
        parser.add_argument("--path", default=str(FIXTURE))
        parser.add_argument(
            "--retire-missing",
            action="store_true",
            help="Mark models that are no longer in the fixture as unavailable.",
        )

    def handle(self, *args, path, retire_missing, **options):
        from pathlib import Path

        report = ai_models_sync(path=Path(path), retire_missing=retire_missing)
        self.stdout.write(
            self.style.SUCCESS(
                f"AI models: {report.created} created, {report.updated} updated, "
                f"{report.unchanged} unchanged, {report.retired} retired."
            )
        )

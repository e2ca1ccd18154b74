"""Reprocess a collection's documents in this process, with a progress bar."""

import sys

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from core.tenancy import current_organization
from knowledge_base import ingestion, services
from knowledge_base.models import Collection, Document, DocumentStatus


def _bar(done: int, total: int, width: int = 30) -> str:
    filled = int(width * done / total) if total else width
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}"


class Command(BaseCommand):
    help = "Reprocess the documents of a collection (replacing their chunks), showing progress."

    def add_arguments(self, parser):
        parser.add_argument("--organization", required=True, help="Organization slug.")
        parser.add_argument("--collection", required=True, help="Collection id.")
        parser.add_argument(
            "--status",
            choices=DocumentStatus.values,
            help="Only documents in this status (default: all).",
        )

    def handle(self, *args, organization, collection, status, **options):
        with schema_context(organization):
            try:
                target = Collection.objects.get(pk=collection)
            except (Collection.DoesNotExist, ValueError) as exc:
                raise CommandError(f"No collection {collection} in {organization}.") from exc
            documents = Document.objects.filter(collection=target).order_by("created_at")
            if status:
                documents = documents.filter(status=status)
            documents = list(documents)
            org = current_organization()
            counts = {"completed": 0, "failed": 0, "skipped": 0, "cancelled": 0}
            for number, document in enumerate(documents, start=1):
                document = services.document_reprocess(document=document)
                result = ingestion.document_process(
                    document_id=document.id, version=document.version, organization=org
                )
                counts[result.status] += 1
                sys.stdout.write(f"\r{_bar(number, len(documents))} {document.title[:40]:<40}")
                sys.stdout.flush()
            sys.stdout.write("\n")
        self.stdout.write(
            self.style.SUCCESS(
                f"{counts['completed']} completed, {counts['failed']} failed, "
                f"{counts['skipped'] + counts['cancelled']} skipped."
            )
        )

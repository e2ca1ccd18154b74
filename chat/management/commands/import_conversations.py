"""Import an export of ChatGPT, Claude, Gemini or the generic JSON for one person:

    manage.py import_conversations --organization acme --user ana@acme.example \\
        --source chatgpt ~/Downloads/chatgpt-export.zip

The same job as the API's (idempotent: running it again adds only what is new), run
here with a progress bar; the messages are then indexed for search, and the
conversations analysed unless ``--no-analysis``.
"""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from chat.conversations import analysis, importing, indexing
from chat.conversations.formats import SOURCES
from chat.models import ChatSession, ImportStatus
from core.api.authorization import caller_resolve
from users.models import Organization, User


def bar(done: int, total: int, label: str, width: int = 30) -> str:
    filled = int(width * done / total) if total else width
    return f"\r[{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} {label}"


class Command(BaseCommand):
    help = "Import conversations from another assistant's export (zip or JSON) for one person."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--organization", required=True, help="The organization's slug.")
        parser.add_argument("--user", required=True, help="The e-mail of the person importing.")
        parser.add_argument("--source", choices=SOURCES, default=None, help="Detected when absent.")
        parser.add_argument("--assistant", default=None, help="Assistant id (default: the first).")
        parser.add_argument("--no-analysis", action="store_true")

    def handle(self, *args, file, organization, user, source, assistant, no_analysis, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        org = Organization.objects.filter(schema_name=organization).first()
        person = User.objects.filter(email__iexact=user).first()
        if org is None or person is None:
            raise CommandError("Unknown organization or user.")
        caller = caller_resolve(organization=org, user=person, api_key=None)
        if caller.membership is None:
            raise CommandError(f"{user} is not a member of {organization}.")
        err = self.stderr._out if hasattr(self.stderr, "_out") else sys.stderr
        with schema_context(org.schema_name):
            try:
                job = importing.conversations_import_create(
                    caller=caller,
                    name=path.name,
                    data=path.read_bytes(),
                    source=source,
                    assistant_id=assistant,
                    enqueue=False,
                )
            except Exception as error:
                raise CommandError(str(getattr(error, "message", error))) from error

            def progress(running):
                err.write(
                    bar(running.conversations_done, running.conversations_total, "conversations")
                )
                err.flush()

            job = importing.conversation_import_run(import_id=job.pk, on_progress=progress)
            err.write("\n")
            if job.status == ImportStatus.FAILED:
                raise CommandError(job.error)
            self.stdout.write(
                f"{job.source}: {job.conversations_created} new and {job.conversations_updated} "
                f"updated conversations, {job.messages_imported:,} messages added, "
                f"{job.messages_existing:,} already there."
            )
            for problem in job.problems:
                self.stdout.write(
                    f"  not imported: {problem['conversation']} ({problem['field']}): {problem['message']}"
                )
            pending = indexing.messages_pending_count()
            done = 0
            while done < pending:
                step = indexing.messages_index_pending(organization=org, limit=256)
                if not step:
                    break
                done += step
                err.write(bar(done, pending, "messages indexed"))
                err.flush()
            err.write("\n")
            if not no_analysis:
                ids = [r["session_id"] for r in job.results if r["added"]]
                for position, session in enumerate(ChatSession.objects.filter(id__in=ids), start=1):
                    analysis.conversation_analyze(session=session, organization=org, user=person)
                    err.write(bar(position, len(ids), "conversations analysed"))
                    err.flush()
                err.write("\n")

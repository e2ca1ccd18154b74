"""Create (or reuse) the demo organization and its admin, and print how to log in.

Idempotent: running it again keeps the data and prints the same credentials,
which are kept in .data/demo-credentials.json (git-ignored), never in the repo.
"""

import json
import secrets
from pathlib import Path

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django_tenants.utils import schema_context

from assistants.services import assistants_create_defaults
from knowledge_base.demo import knowledge_demo_seed
from users import services
from users.models import Membership, Organization, Role, User


class Command(BaseCommand):
    help = "Create the demo organization (acme) with an admin user and print the credentials."

    def add_arguments(self, parser):
        parser.add_argument("--slug", default="acme")
        parser.add_argument("--email", default="admin@acme.example")
        parser.add_argument(
            "--credentials-file",
            default=str(Path(settings.BASE_DIR) / ".data" / "demo-credentials.json"),
        )

    def handle(self, *args, slug, email, credentials_file, **options):
        path = Path(credentials_file)
        stored = json.loads(path.read_text()) if path.exists() else {}
        password = stored.get("password") if stored.get("email") == email else None

        with transaction.atomic():
            user = User.objects.filter(email__iexact=email).first()
            if user is None:
                password = password or secrets.token_urlsafe(12)
                user = services.user_create(
                    email=email, password=password, name="Demo Admin", verified=True
                )
            elif password is None or not user.check_password(password):
                password = secrets.token_urlsafe(12)
                user.set_password(password)
                user.save(update_fields=["password"])
            EmailAddress.objects.filter(user=user).update(verified=True)

            organization = Organization.objects.filter(schema_name=slug).first()
            if organization is None:
                organization = services.organization_create(name="Acme Inc.", slug=slug)
            Membership.objects.update_or_create(
                user=user, organization=organization, defaults={"role": Role.ADMIN}
            )

        with schema_context(organization.schema_name):
            assistants_create_defaults(user=user)
            documents = knowledge_demo_seed(user=user)

        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"email": email, "password": password}))
        path.chmod(0o600)
        self.stdout.write(
            self.style.SUCCESS("Demo organization ready")
            + f"\n  URL:      {organization.url}/"
            + f"\n  E-mail:   {email}"
            + f"\n  Password: {password}"
            + f"\n  API docs: {organization.url}/api/docs/"
            + f"\n  Knowledge: {documents} demo documents in the Help Center's collection"
        )

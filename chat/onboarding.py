"""The getting-started checklist of a new organization, read from what it has done.

Each step is one cheap existence query (an index or a primary key answers it; no
counting), so the home page can ask on every visit. Lives in chat because it reads
the layers below (documents, assistants' credentials, invitations) and chat itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from assistants.models import ProviderCredential
from chat.models import Message
from chat.models import Role as MessageRole
from core.tenancy import require_tenant_schema
from knowledge_base.models import Document
from users.models import Invitation, Membership, Organization


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    description: str
    link: str
    done: bool


def onboarding_checklist(*, organization: Organization) -> list[Step]:
    """The four first steps, in order, each ticked off by the data it produces."""
    require_tenant_schema()
    teammates = (
        Invitation.objects.filter(organization=organization).exists()
        or Membership.objects.filter(organization=organization)[1:2].exists()
    )
    return [
        Step(
            "upload_document",
            "Upload a document",
            "Add a handbook, FAQ or policy to a knowledge collection.",
            "/knowledge",
            Document.objects.exists(),
        ),
        Step(
            "ask_question",
            "Ask a question",
            "Chat with an assistant about your documents.",
            "/chat",
            Message.objects.filter(role=MessageRole.USER).exists(),
        ),
        Step(
            "invite_teammate",
            "Invite a teammate",
            "Bring a colleague in as an admin, member or viewer.",
            "/members",
            teammates,
        ),
        Step(
            "add_provider_key",
            "Add an AI provider key",
            "Use OpenAI, Anthropic or Google models with your own key.",
            "/credentials",
            ProviderCredential.objects.exists(),
        ),
    ]

"""The vocabulary of access, shared by every app: the roles of members, the scopes
of API keys, and how the base API views and the WebSocket glue find a caller's
membership without importing the apps that store them.

The membership model is named by a setting (``ORGANIZATION_MEMBERSHIP_MODEL``,
like ``AUTH_USER_MODEL``) so the core stays below the domain apps (ADR
"layer contracts"); an API key is recognised by what it can do (``ScopedKey``).
"""

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from django.apps import apps
from django.conf import settings
from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


# Higher ranks include the rights of lower ones.
ROLE_RANK = {Role.VIEWER: 1, Role.MEMBER: 2, Role.ADMIN: 3}


class Scope(models.TextChoices):
    CHAT_WRITE = "chat:write", "Chat, and change own chat sessions"
    SESSIONS_READ = "sessions:read", "Read chat sessions and messages"
    ASSISTANTS_READ = "assistants:read", "Read assistants and the model catalog"
    ASSISTANTS_WRITE = "assistants:write", "Create, change and delete assistants"
    KNOWLEDGE_READ = "knowledge:read", "Read collections and documents, search"
    KNOWLEDGE_WRITE = "knowledge:write", "Create collections, upload and delete documents"
    USAGE_READ = "usage:read", "Read usage, costs and quotas"
    PROMPTS_READ = "prompts:read", "Read and render prompt templates"
    PROMPTS_WRITE = "prompts:write", "Create, change and publish prompt templates"
    WORKFLOWS_READ = "workflows:read", "Read workflows and their runs"
    WORKFLOWS_WRITE = "workflows:write", "Create, publish and run workflows, decide approvals"
    ADMIN = "admin", "Everything, including members, keys, credentials and the audit log"


@runtime_checkable
class ScopedKey(Protocol):
    """An API key as the base views see it (integrations.models.APIKey)."""

    organization_id: object
    scopes: list
    assistant_ids: list

    def has_scope(self, scope: str) -> bool: ...


def membership_model():
    """The model of a person's membership of an organization (users.Membership):
    fields ``organization``, ``user``, ``role`` and a ``has_role(role)`` method."""
    return apps.get_model(settings.ORGANIZATION_MEMBERSHIP_MODEL, require_ready=True)


@dataclass(frozen=True)
class Caller:
    """Who makes a call, and as what. ``membership`` is None for a non-member; for an
    API key it is an unsaved Membership (no user) with the role its scopes give."""

    organization: object
    user: Any  # a User, an APIKeyUser (a key: no id) or AnonymousUser
    membership: Any  # users.Membership, or None
    api_key: ScopedKey | None = None

    @property
    def is_authenticated(self) -> bool:
        return bool(self.user and self.user.is_authenticated)

    @property
    def is_admin(self) -> bool:
        return self.membership is not None and self.membership.role == Role.ADMIN

    @property
    def allowed_assistant_ids(self) -> list | None:
        """The assistants an API key is restricted to; None: no restriction."""
        if self.api_key is not None and self.api_key.assistant_ids:
            return list(self.api_key.assistant_ids)
        return None

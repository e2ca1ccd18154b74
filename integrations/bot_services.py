"""Admin changes to Slack and Teams integrations: channel mappings, Teams credentials,
disconnecting. Each change is audited in the organization's schema."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from assistants.models import Assistant
from audit.models import AuditAction
from audit.services import Actor, audit_record
from core import crypto, errors
from core.tenancy import require_tenant_schema
from integrations.models import (
    Integration,
    IntegrationProvider,
    IntegrationRoute,
    IntegrationStatus,
)
from integrations.slack.store import disconnect


def _check_assistants(ids) -> None:
    ids = {str(i) for i in ids if i}
    known = {str(i) for i in Assistant.objects.filter(id__in=ids).values_list("id", flat=True)}
    if ids - known:
        raise ValidationError({"assistant": ["Unknown assistant."]})


@transaction.atomic
def integration_configure(
    *, integration: Integration, default_assistant_id=None, channels=None, actor: Actor
) -> Integration:
    """``default_assistant_id``: answers where no channel mapping applies (None: none);
    ``channels``: ``{channel or team id: assistant id}``, replacing the mapping."""
    require_tenant_schema()
    before = dict(integration.config)
    config = dict(integration.config)
    if default_assistant_id is not ...:
        _check_assistants([default_assistant_id])
        config["default_assistant_id"] = str(default_assistant_id) if default_assistant_id else None
    if channels is not None:
        _check_assistants(channels.values())
        config["channels"] = {str(k): str(v) for k, v in channels.items()}
    integration.config = config
    integration.save(update_fields=["config"])
    audit_record(
        actor=actor,
        action=AuditAction.INTEGRATION_UPDATED,
        target=integration,
        changes={"config": [before, config]},
    )
    return integration


@transaction.atomic
def integration_disconnect(*, integration: Integration, actor: Actor) -> Integration:
    """Routing and tokens removed at once (the chat sessions stay in the dashboard)."""
    require_tenant_schema()
    disconnect(integration)
    audit_record(
        actor=actor,
        action=AuditAction.INTEGRATION_DISCONNECTED,
        target=integration,
        changes={"provider": integration.provider},
    )
    return integration


def teams_route_key(*, tenant_id: str, app_id: str) -> str:
    return f"{tenant_id.lower()}:{app_id.lower()}"


@transaction.atomic
def teams_connect(
    *, organization, name: str, app_id: str, app_password: str, tenant_id: str, actor: Actor
) -> Integration:
    """An organization's own Azure bot (app id + client secret) in its Microsoft tenant.
    The same bot in the same Microsoft tenant cannot serve two organizations."""
    require_tenant_schema()
    key = teams_route_key(tenant_id=tenant_id, app_id=app_id)
    integration = Integration.objects.create(
        organization=organization,
        provider=IntegrationProvider.TEAMS,
        name=name or "Teams bot",
        external_id=app_id.lower(),
        details={"tenant_id": tenant_id.lower(), "app_id": app_id.lower()},
        token_encrypted=crypto.encrypt(app_password),
        installed_by=actor.user,
        status=IntegrationStatus.ACTIVE,
    )
    try:
        with transaction.atomic():
            IntegrationRoute.objects.create(
                provider=IntegrationProvider.TEAMS,
                key=key,
                integration=integration,
                organization=organization,
            )
    except IntegrityError:
        raise errors.Conflict(
            "This Teams bot is already connected in this Microsoft tenant.",
            code="bot_claimed",
        ) from None
    audit_record(
        actor=actor,
        action=AuditAction.INTEGRATION_CONNECTED,
        target=integration,
        changes={"provider": "teams", "app_id": app_id, "tenant_id": tenant_id},
    )
    return integration

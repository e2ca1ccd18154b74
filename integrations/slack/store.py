"""Bolt's installation store, backed by our models (``Integration`` + ``IntegrationRoute``).

An installation always belongs to an organization, which Slack's ``Installation`` does
not carry: ``save_for`` takes it (from the signed OAuth ``state``); plain ``save``
refuses. The bot token is stored encrypted (core.crypto) and only decrypted to call
Slack. One workspace (team id, or enterprise id for an org-wide install) routes to one
organization: a second organization's install is refused.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from slack_sdk.oauth.installation_store import Bot, Installation, InstallationStore

from core import crypto, errors
from integrations.models import (
    Integration,
    IntegrationProvider,
    IntegrationRoute,
    IntegrationStatus,
    IntegrationThread,
)

SLACK = IntegrationProvider.SLACK


def workspace_key(*, enterprise_id: str | None, team_id: str | None, is_enterprise_install=False):
    return enterprise_id if is_enterprise_install and enterprise_id else team_id


class DjangoInstallationStore(InstallationStore):
    def save(self, installation: Installation):
        raise NotImplementedError("Use save_for(installation, organization=..., user=...).")

    @transaction.atomic
    def save_for(self, installation: Installation, *, organization, user) -> Integration:
        key = workspace_key(
            enterprise_id=installation.enterprise_id,
            team_id=installation.team_id,
            is_enterprise_install=installation.is_enterprise_install,
        )
        route = IntegrationRoute.objects.select_for_update().filter(provider=SLACK, key=key).first()
        if route is not None and route.organization_id != organization.pk:
            raise errors.Conflict(
                "This Slack workspace is already connected to another organization.",
                code="workspace_claimed",
            )
        integration = route.integration if route else None
        if integration is None:
            integration = Integration(organization=organization, provider=SLACK, external_id=key)
        integration.status = IntegrationStatus.ACTIVE
        integration.name = installation.team_name or installation.enterprise_name or key
        integration.details = {
            "team_id": installation.team_id,
            "enterprise_id": installation.enterprise_id,
            "is_enterprise_install": bool(installation.is_enterprise_install),
            "bot_user_id": installation.bot_user_id,
            "bot_id": installation.bot_id,
            "scopes": installation.bot_scopes or [],
            "app_id": installation.app_id,
        }
        integration.token_encrypted = crypto.encrypt(installation.bot_token or "")
        integration.installed_by = user if getattr(user, "pk", None) else None
        integration.last_error = ""
        integration.save()
        if route is None:
            try:
                with transaction.atomic():
                    IntegrationRoute.objects.create(
                        provider=SLACK, key=key, integration=integration, organization=organization
                    )
            except IntegrityError:
                raise errors.Conflict(
                    "This Slack workspace is already connected to another organization.",
                    code="workspace_claimed",
                ) from None
        return integration

    def _integration(self, *, enterprise_id, team_id, is_enterprise_install) -> Integration | None:
        from integrations.bots import route_find

        keys = [enterprise_id, team_id] if is_enterprise_install else [team_id, enterprise_id]
        return route_find(provider=SLACK, keys=keys)

    def find_bot(self, *, enterprise_id, team_id, is_enterprise_install=False) -> Bot | None:
        integration = self._integration(
            enterprise_id=enterprise_id,
            team_id=team_id,
            is_enterprise_install=is_enterprise_install,
        )
        if integration is None or not integration.token_encrypted:
            return None
        details = integration.details
        return Bot(
            app_id=details.get("app_id"),
            enterprise_id=details.get("enterprise_id"),
            team_id=details.get("team_id"),
            bot_token=crypto.decrypt(integration.token_encrypted),
            bot_id=details.get("bot_id"),
            bot_user_id=details.get("bot_user_id"),
            bot_scopes=details.get("scopes") or [],
            is_enterprise_install=details.get("is_enterprise_install", False),
        )

    def find_installation(
        self, *, enterprise_id, team_id, user_id=None, is_enterprise_install=False
    ) -> Installation | None:
        bot = self.find_bot(
            enterprise_id=enterprise_id,
            team_id=team_id,
            is_enterprise_install=is_enterprise_install,
        )
        if bot is None:
            return None
        return Installation(
            app_id=bot.app_id,
            enterprise_id=bot.enterprise_id,
            team_id=bot.team_id,
            bot_token=bot.bot_token,
            bot_id=bot.bot_id,
            bot_user_id=bot.bot_user_id,
            bot_scopes=bot.bot_scopes,
            user_id=user_id or "",
            is_enterprise_install=bot.is_enterprise_install,
        )

    def delete_bot(self, *, enterprise_id, team_id) -> None:
        self.delete_installation(enterprise_id=enterprise_id, team_id=team_id)

    @transaction.atomic
    def delete_installation(self, *, enterprise_id, team_id, user_id=None) -> None:
        """Uninstalled (or tokens revoked): no routing and no token are left."""
        from django_tenants.utils import tenant_context

        from audit.models import AuditAction
        from audit.services import SYSTEM, audit_record

        keys = [k for k in (team_id, enterprise_id) if k]
        for route in IntegrationRoute.objects.filter(provider=SLACK, key__in=keys).select_related(
            "integration__organization"
        ):
            integration = route.integration
            disconnect(integration)
            with tenant_context(integration.organization):
                audit_record(
                    actor=SYSTEM,
                    action=AuditAction.INTEGRATION_DISCONNECTED,
                    target=integration,
                    changes={"provider": "slack", "reason": "uninstalled in Slack"},
                )


def disconnect(integration: Integration) -> None:
    """Routing, token and thread map removed; the integration row stays (disconnected)
    so the page shows what happened. The chat sessions stay in the dashboard."""
    IntegrationRoute.objects.filter(integration=integration).delete()
    IntegrationThread.objects.filter(integration=integration).delete()
    integration.token_encrypted = ""
    integration.status = IntegrationStatus.DISCONNECTED
    integration.save(update_fields=["token_encrypted", "status"])


installation_store = DjangoInstallationStore()

"""API keys (public schema): a key must find its organization before the tenant is known.

A key reads ``apk_<prefix>_<secret>``. Only ``apk_<prefix>`` (shown in lists) and
an HMAC-SHA256 of the whole key are stored; the secret is shown once, at creation.
Slack, Teams, Gmail and widget integrations arrive with their issues.
"""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

from core.access import Scope


class APIKey(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "users.Organization", on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    # "apk_" + 12 random characters; unique, so a request finds its key by index.
    prefix = models.CharField(max_length=24, unique=True)
    secret_hash = models.CharField(max_length=64)
    scopes = ArrayField(models.CharField(max_length=32, choices=Scope.choices), default=list)
    # Assistants live in the organization's schema: referenced by id. Empty: all.
    assistant_ids = ArrayField(models.UUIDField(), default=list, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organization", "created_at"])]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired

    def has_scope(self, scope: str) -> bool:
        return Scope.ADMIN in self.scopes or scope in self.scopes


# -- Slack and Teams bots (issue 15; docs/integrations.md, ADRs 0034-0036) ------------
#
# Every row below is in the public schema: an incoming Slack event or Teams activity
# must find its organization (``IntegrationRoute``) before any tenant table is touched.
# Each row carries its organization, and every query filters by it. Assistants and chat
# sessions live in the organization's schema, so they are referenced by id.


class IntegrationProvider(models.TextChoices):
    SLACK = "slack", "Slack"
    TEAMS = "teams", "Microsoft Teams"


class IntegrationStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    # Connected but something needs an admin (a revoked token, a refused credential).
    ERROR = "error", "Needs attention"
    # Uninstalled from the workspace or disconnected here: no routing, no tokens.
    DISCONNECTED = "disconnected", "Disconnected"


class Integration(models.Model):
    """One Slack workspace or one Teams bot connected to an organization.

    ``config``: ``{"default_assistant_id": uuid|None, "channels": {channel_id:
    assistant_id}}``. ``token_encrypted``: the Slack bot token or the Teams app's
    client secret, encrypted with core.crypto (never logged, never serialized).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "users.Organization", on_delete=models.CASCADE, related_name="integrations"
    )
    provider = models.CharField(max_length=16, choices=IntegrationProvider.choices)
    status = models.CharField(
        max_length=16, choices=IntegrationStatus.choices, default=IntegrationStatus.ACTIVE
    )
    name = models.CharField(max_length=200, blank=True)  # the workspace's or the bot's name
    # Slack: team id (or enterprise id for an org-wide install); Teams: the app (bot) id.
    external_id = models.CharField(max_length=100)
    # Slack: enterprise id, bot user id, bot id, scopes; Teams: the Microsoft tenant id.
    details = models.JSONField(default=dict, blank=True)
    config = models.JSONField(default=dict, blank=True)
    token_encrypted = models.TextField(blank=True)
    installed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_event_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organization", "created_at"])]

    def __str__(self) -> str:
        return f"{self.get_provider_display()}: {self.name or self.external_id}"


class IntegrationRoute(models.Model):
    """Which organization an incoming event belongs to, found before any tenant table.

    Slack: ``key`` is the team id (``T…``) or the enterprise id (``E…``) of an org-wide
    install. Teams: ``<microsoft tenant id>:<bot app id>``. Unique per provider: one
    workspace (or one bot in one Microsoft tenant) cannot be claimed by two organizations.
    """

    provider = models.CharField(max_length=16, choices=IntegrationProvider.choices)
    key = models.CharField(max_length=200)
    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="routes")
    organization = models.ForeignKey(
        "users.Organization", on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "key"], name="integration_route_unique")
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.key}"


class IntegrationThread(models.Model):
    """A Slack thread, a Teams conversation or channel thread: one chat session."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="threads")
    organization = models.ForeignKey(
        "users.Organization", on_delete=models.CASCADE, related_name="+"
    )
    key = models.CharField(max_length=300)  # "<channel>:<thread ts>" / the conversation id
    session_id = models.UUIDField()  # chat.ChatSession in the organization's schema
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["integration", "key"], name="integration_thread_unique")
        ]

    def __str__(self) -> str:
        return self.key


class IntegrationEventLevel(models.TextChoices):
    INFO = "info", "Info"
    ERROR = "error", "Error"


class IntegrationEvent(models.Model):
    """What an integration received and what went wrong, newest first on the
    Integrations page. An incoming event is stored once per ``delivery_id`` (Slack's
    ``event_id``, Teams' activity id): a retry or a duplicate finds the row and is
    answered no second time."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="events")
    organization = models.ForeignKey(
        "users.Organization", on_delete=models.CASCADE, related_name="+"
    )
    provider = models.CharField(max_length=16, choices=IntegrationProvider.choices)
    delivery_id = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=60)  # "app_mention", "message", "answer", "error"...
    level = models.CharField(
        max_length=8, choices=IntegrationEventLevel.choices, default=IntegrationEventLevel.INFO
    )
    summary = models.CharField(max_length=500, blank=True)
    payload = models.JSONField(default=dict, blank=True)  # the event itself, for the task
    # For an incoming event: received -> answering (claimed by one task) -> answered or
    # failed. A second delivery of the task finds it claimed and does nothing.
    status = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["integration", "created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "delivery_id"],
                condition=~models.Q(delivery_id=""),
                name="integration_event_delivery_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.summary[:60]}"

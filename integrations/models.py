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


class IntegrationChannel(models.Model):
    """A Slack channel (or DM) or a Teams conversation the bot is in, recorded when an
    event arrives from it (Teams: also when the bot is added to it): the places a
    workflow's ``notify`` step may post to (docs/workflows.md). Teams keeps the
    ``service_url`` a proactive message is sent to."""

    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="known_channels"
    )
    organization = models.ForeignKey(
        "users.Organization", on_delete=models.CASCADE, related_name="+"
    )
    provider = models.CharField(max_length=16, choices=IntegrationProvider.choices)
    channel_id = models.CharField(max_length=300)  # Slack "C…"/"D…"; the Teams conversation id
    name = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=32, blank=True)  # "channel", "im", "personal"...
    service_url = models.URLField(max_length=500, blank=True)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "channel_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "channel_id"], name="integration_channel_unique"
            )
        ]
        indexes = [models.Index(fields=["organization", "provider"])]

    def __str__(self) -> str:
        return self.name or self.channel_id


# -- Outbound webhooks (issue 16; docs/webhooks.md) ---------------------------------------
# Public schema like API keys: a delivery is sent and retried by workers that need no
# tenant, and every row carries its organization (every query filters by it).


class WebhookEndpoint(models.Model):
    """An address of the organization's that receives the events it subscribed to,
    signed per the Standard Webhooks spec with its own secret (encrypted at rest)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "users.Organization", on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    event_types = ArrayField(models.CharField(max_length=64), default=list)
    # "whsec_<base64>" encrypted with core.crypto; shown at creation and rotation only.
    secret_encrypted = models.TextField()
    is_active = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    # Since when every attempt failed (None after a success): what auto-disabling reads.
    failing_since = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "created_at"])]

    def __str__(self) -> str:
        return self.url[:200]


class WebhookDeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RETRYING = "retrying", "Retrying"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One event for one endpoint: its body, its attempts and the last exchange."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "users.Organization", on_delete=models.CASCADE, related_name="+"
    )
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    # The Standard Webhooks message id (webhook-id): the same on every attempt, so a
    # receiver can drop a duplicate.
    event_id = models.CharField(max_length=64)
    event_type = models.CharField(max_length=64)
    payload = models.JSONField()
    status = models.CharField(
        max_length=16, choices=WebhookDeliveryStatus.choices, default=WebhookDeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=1)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # An attempt in progress holds the row until then; an expired lease is retried.
    locked_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    request_excerpt = models.TextField(blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "event_id"], name="webhook_delivery_once_per_event"
            )
        ]
        indexes = [
            models.Index(fields=["endpoint", "created_at"]),
            models.Index(fields=["status", "next_attempt_at"]),
        ]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"


# -- Embeddable web widget (issue 16; docs/widget.md) ---------------------------------------


class WidgetPosition(models.TextChoices):
    BOTTOM_RIGHT = "bottom-right", "Bottom right"
    BOTTOM_LEFT = "bottom-left", "Bottom left"


class WidgetConfiguration(models.Model):
    """A chat bubble that any allowed site embeds with one script tag; anonymous
    visitors chat with one assistant, and nothing else of the organization."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "users.Organization", on_delete=models.CASCADE, related_name="widgets"
    )
    # What the snippet names (data-widget): public, random, unguessable.
    public_id = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    # The organization's schema holds assistants: referenced by id.
    assistant_id = models.UUIDField()
    title = models.CharField(max_length=100, default="Ask us")
    welcome_message = models.CharField(max_length=1000, blank=True)
    primary_color = models.CharField(max_length=7, default="#2563eb")
    text_color = models.CharField(max_length=7, default="#ffffff")
    position = models.CharField(
        max_length=16, choices=WidgetPosition.choices, default=WidgetPosition.BOTTOM_RIGHT
    )
    # Host names (with an optional port, or a leading "*." for subdomains) whose pages
    # may use the widget; empty: none.
    allowed_domains = ArrayField(models.CharField(max_length=260), default=list, blank=True)
    file_upload_enabled = models.BooleanField(default=False)
    feedback_enabled = models.BooleanField(default=True)
    show_sources = models.BooleanField(default=True)
    suggested_questions = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    messages_per_minute = models.PositiveIntegerField(default=60)
    messages_per_minute_per_address = models.PositiveIntegerField(default=6)
    max_message_chars = models.PositiveIntegerField(default=1000)
    max_conversation_messages = models.PositiveIntegerField(default=40)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "created_at"])]

    def __str__(self) -> str:
        return self.name


# -- Gmail, per member (issue 16; docs/gmail.md, ADR 0043) ------------------------------
# Public schema like the bots: the OAuth callback arrives on the platform's host and must
# find its organization and member first. Every row carries its organization. The
# collection and its documents live in the organization's schema: referenced by id.


class GmailStatus(models.TextChoices):
    ACTIVE = "active", "Connected"
    # Google refused the refresh token (revoked, expired): the member connects again.
    ERROR = "error", "Needs attention"


class GmailSyncStatus(models.TextChoices):
    IDLE = "idle", "Idle"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    FAILED = "failed", "Failed"


class GmailConnection(models.Model):
    """One member's Gmail mailbox, connected with Google OAuth. ``refresh_token_encrypted``
    is encrypted with core.crypto (never logged, never serialized); access tokens are
    minted from it for each run and never stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "users.Organization", on_delete=models.CASCADE, related_name="gmail_connections"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="gmail_connections"
    )
    email = models.CharField(max_length=320)
    scopes = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    refresh_token_encrypted = models.TextField()
    status = models.CharField(
        max_length=16, choices=GmailStatus.choices, default=GmailStatus.ACTIVE
    )
    # What is synced: one label into one collection of the organization's schema.
    label_id = models.CharField(max_length=200, blank=True)
    label_name = models.CharField(max_length=200, blank=True)
    collection_id = models.UUIDField(null=True, blank=True)
    # The mailbox's history id at the end of the last complete sync: the next run asks
    # for the changes since (users.history.list); empty: the next run is a full one.
    history_id = models.CharField(max_length=40, blank=True)
    sync_status = models.CharField(
        max_length=16, choices=GmailSyncStatus.choices, default=GmailSyncStatus.IDLE
    )
    # A run in progress holds the connection until then; an expired lease is taken over.
    sync_lease_until = models.DateTimeField(null=True, blank=True)
    sync_threads_done = models.PositiveIntegerField(default=0)
    sync_threads_total = models.PositiveIntegerField(default=0)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    # The scheduled sync (integrations.gmail_sync_due, beat): when this connection is due
    # next (None: GMAIL_SYNC_INTERVAL_MINUTES after ``last_sync_at``, or now if never
    # synced), and how many runs in a row failed (the backoff doubles with each).
    next_sync_at = models.DateTimeField(null=True, blank=True, db_index=True)
    sync_failures = models.PositiveSmallIntegerField(default=0)
    # {"added": n, "updated": n, "removed": n, "full": bool}
    last_sync_result = models.JSONField(default=dict, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "user"], name="gmail_connection_one_per_member"
            )
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def can_compose(self) -> bool:
        return "https://www.googleapis.com/auth/gmail.compose" in self.scopes


class GmailThread(models.Model):
    """A synced thread and the document it became (in the organization's schema)."""

    connection = models.ForeignKey(
        GmailConnection, on_delete=models.CASCADE, related_name="threads"
    )
    organization = models.ForeignKey(
        "users.Organization", on_delete=models.CASCADE, related_name="+"
    )
    thread_id = models.CharField(max_length=64)
    document_id = models.UUIDField(null=True, blank=True)
    history_id = models.CharField(max_length=40, blank=True)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "thread_id"], name="gmail_thread_unique")
        ]

    def __str__(self) -> str:
        return self.thread_id

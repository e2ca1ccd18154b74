"""The embeddable widget: configurations, and what guards a visitor's request.

A visitor is anonymous. What holds the line:

- the page's origin (``Origin``, else ``Referer``) must be one of the widget's allowed
  domains on every request, and when both headers are sent both must be (a script
  that forges one still has to forge the other; a browser can forge neither);
- CORS answers name that origin only; no cookie of the platform is read or set;
- the visitor carries a token signed by the platform (``core.signing`` of Django),
  which names the widget, the visitor and their conversation: the only conversation
  they can reach;
- messages are rate-limited per widget and per client address (Redis windows), and
  the organization's quotas apply as to any chat;
- the chat runs as a ``WidgetKey``: a caller restricted to the widget's assistant and
  to the sessions created through the widget, with the ``widget`` channel.
"""

from __future__ import annotations

import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import redis
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core import signing
from django.core.cache import caches
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Sum
from django_tenants.utils import schema_context
from redis.commands.core import Script

from assistants.models import Assistant
from audit.models import AuditAction
from audit.services import Actor, audit_record
from chat.models import ChatSession
from core import errors
from core.access import Caller, Role, Scope
from files import uploads
from integrations.models import WidgetConfiguration
from users.models import Membership

TOKEN_SALT = "integrations.widget.visitor"  # noqa: S105 (a salt name, not a secret)
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_DOMAIN = re.compile(
    r"^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(:\d{1,5})?$"
)
FIELDS = (
    "name",
    "assistant_id",
    "title",
    "welcome_message",
    "primary_color",
    "text_color",
    "position",
    "allowed_domains",
    "file_upload_enabled",
    "feedback_enabled",
    "show_sources",
    "suggested_questions",
    "messages_per_minute",
    "messages_per_minute_per_address",
    "max_message_chars",
    "max_conversation_messages",
    "is_active",
)


# -- configurations ---------------------------------------------------------------------


def normal_domain(value: str) -> str:
    """``https://Shop.Example.com/path`` -> ``shop.example.com``; a bare host is kept
    with its port; ``*.example.com`` allows every subdomain."""
    value = value.strip().lower()
    if "://" in value:
        parts = urlsplit(value)
        value = parts.netloc
    value = value.split("/", 1)[0].rstrip(".")
    if not _DOMAIN.match(value):
        raise ValidationError({"allowed_domains": [f"Not a host name: {value!r}."]})
    return value


def _clean(organization, values: dict) -> dict:
    problems: dict[str, list[str]] = {}
    if (
        "assistant_id" in values
        and not Assistant.objects.filter(pk=values["assistant_id"]).exists()
    ):
        problems["assistant"] = ["Unknown assistant."]
    for name in ("primary_color", "text_color"):
        if name in values and not _COLOR.match(values[name] or ""):
            problems[name] = ["Use a colour like #2563eb."]
    if "allowed_domains" in values:
        try:
            values["allowed_domains"] = sorted(
                {normal_domain(d) for d in values["allowed_domains"]}
            )
        except ValidationError as exc:
            problems.update(exc.message_dict)
    if "suggested_questions" in values:
        values["suggested_questions"] = [
            q.strip() for q in values["suggested_questions"] if q.strip()
        ]
    if (
        "max_message_chars" in values
        and values["max_message_chars"] > settings.CHAT_MAX_MESSAGE_CHARS
    ):
        problems["max_message_chars"] = [f"At most {settings.CHAT_MAX_MESSAGE_CHARS}."]
    if problems:
        raise ValidationError(problems)
    return values


@transaction.atomic
def widget_create(*, organization, actor: Actor, **values) -> WidgetConfiguration:
    values = _clean(organization, {k: v for k, v in values.items() if k in FIELDS})
    widget = WidgetConfiguration.objects.create(
        organization=organization,
        public_id="wgt_" + secrets.token_urlsafe(12).replace("-", "x").replace("_", "y"),
        created_by=actor.user,
        **values,
    )
    audit_record(
        actor=actor,
        action=AuditAction.WIDGET_CREATED,
        target=widget,
        changes={"assistant": str(widget.assistant_id), "allowed_domains": widget.allowed_domains},
    )
    return widget


@transaction.atomic
def widget_update(*, widget: WidgetConfiguration, actor: Actor, **values) -> WidgetConfiguration:
    widget = WidgetConfiguration.objects.select_for_update().get(pk=widget.pk)
    values = _clean(widget.organization, {k: v for k, v in values.items() if k in FIELDS})
    changes = {}
    for name, value in values.items():
        if getattr(widget, name) != value:
            setattr(widget, name, value)
            changes[name] = str(value) if isinstance(value, uuid.UUID) else value
    if changes:
        widget.save()
        audit_record(actor=actor, action=AuditAction.WIDGET_UPDATED, target=widget, changes=changes)
    return widget


@transaction.atomic
def widget_delete(*, widget: WidgetConfiguration, actor: Actor) -> None:
    audit_record(actor=actor, action=AuditAction.WIDGET_DELETED, target=widget)
    widget.delete()


# -- the visitor's request ---------------------------------------------------------------


def _origin_host(value: str) -> str | None:
    """``https://shop.example.com:8443/x`` -> ``shop.example.com:8443``; None for
    ``null`` and anything that is not an http(s) URL."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.hostname.lower() + (f":{port}" if port else "")


def _matches(host: str, allowed: str) -> bool:
    name, _, port = host.partition(":")
    allowed_name, _, allowed_port = allowed.partition(":")
    if allowed_port and allowed_port != port:
        return False
    if allowed_name.startswith("*."):
        return name.endswith(allowed_name[1:])
    return name == allowed_name


def domain_allowed(widget: WidgetConfiguration, host: str) -> bool:
    return any(_matches(host, allowed) for allowed in widget.allowed_domains)


def request_origin(widget: WidgetConfiguration, *, origin: str | None, referer: str | None) -> str:
    """The page's origin (``scheme://host[:port]``) when every header the request sent
    names an allowed domain; PermissionDenied otherwise (or with neither header)."""
    sent = [v for v in (origin, referer) if v]
    if not sent:
        raise errors.PermissionDenied(
            "This widget works only on its allowed sites.", code="origin_refused"
        )
    for value in sent:
        host = _origin_host(value)
        if host is None or not domain_allowed(widget, host):
            raise errors.PermissionDenied(
                "This widget works only on its allowed sites.", code="origin_refused"
            )
    parts = urlsplit(origin or referer)
    return f"{parts.scheme}://{parts.netloc}"


def widget_for_visitor(*, organization, public_id: str) -> WidgetConfiguration:
    """The organization's active widget of that public id, or NotFound."""
    widget = WidgetConfiguration.objects.filter(
        organization=organization, public_id=public_id[:40], is_active=True
    ).first()
    if widget is None:
        raise errors.NotFound()
    widget.organization = organization  # the request's tenant: no second query for it
    return widget


# -- visitor tokens -----------------------------------------------------------------------


@dataclass(frozen=True)
class Visitor:
    visitor_id: str
    session_id: str | None


def visitor_token(*, widget: WidgetConfiguration, visitor: Visitor) -> str:
    return signing.dumps(
        {"w": str(widget.pk), "v": visitor.visitor_id, "s": visitor.session_id}, salt=TOKEN_SALT
    )


def visitor_from_token(*, widget: WidgetConfiguration, token: str | None) -> Visitor:
    """The visitor a token names; a missing, forged, expired or other widget's token
    starts a new visitor (nothing of anyone else's is reachable with it)."""
    if token:
        try:
            data = signing.loads(
                token[:1000], salt=TOKEN_SALT, max_age=settings.WIDGET_VISITOR_TOKEN_MAX_AGE
            )
        except signing.BadSignature:
            data = None
        if isinstance(data, dict) and data.get("w") == str(widget.pk):
            return Visitor(visitor_id=str(data.get("v")), session_id=data.get("s"))
    return Visitor(visitor_id=uuid.uuid4().hex, session_id=None)


# -- limits --------------------------------------------------------------------------------


# Both windows of a message in one round trip: the address's window is counted first;
# the widget's only when the address is within its limit, so a visitor refused for
# sending too fast does not use up the widget's allowance for everyone else (as when
# these were two separate counters checked one after the other). Returns
# {address count, widget count or 0}.
_RATE_SCRIPT = """
local address = redis.call('INCR', KEYS[1])
if address == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
if address > tonumber(ARGV[1]) then return {address, 0} end
local overall = redis.call('INCR', KEYS[2])
if overall == 1 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
return {address, overall}
"""


_rate_script = Script(None, _RATE_SCRIPT.encode())  # EVALSHA (loaded once)


def _rate_counts(address_key: str, widget_key: str, *, address_limit: int, window: int):
    cache = caches["shared"]
    client = cache._cache.get_client(write=True)  # the cache's server and pooled connections
    keys = [cache.make_and_validate_key(address_key), cache.make_and_validate_key(widget_key)]
    address, overall = _rate_script(keys=keys, args=[address_limit, window + 5], client=client)
    return int(address), int(overall)


def rate_check(*, widget: WidgetConfiguration, address: str | None, kind: str = "message") -> None:
    """One more message (or file, ``kind="file"``: counted apart, with the same limits)
    from ``address``: RateLimited past the widget's per-minute limits (the whole
    widget's, and one address's), both counted in one Redis round trip. Fails open while
    Redis is down (the organization's quotas, in PostgreSQL, still hold)."""
    window = settings.RATE_LIMIT_WINDOW_SECONDS
    now = int(time.time())
    start = now - now % window
    retry = max(start + window - now, 1)
    what = "files" if kind == "file" else "messages"
    prefix = "widget-rate" if kind == "message" else f"widget-rate-{kind}"
    try:
        per_address, overall = _rate_counts(
            f"{prefix}:{widget.pk}:{address or '-'}:{start}",
            f"{prefix}:{widget.pk}:*:{start}",
            address_limit=widget.messages_per_minute_per_address,
            window=window,
        )
    except (redis.ConnectionError, redis.TimeoutError):
        return
    if per_address > widget.messages_per_minute_per_address:
        raise errors.RateLimited(
            f"Too many {what} from your address. Retry in a minute.", retry_after=retry
        )
    if overall > widget.messages_per_minute:
        raise errors.RateLimited("This assistant is busy. Retry in a minute.", retry_after=retry)


# -- the visitor's files ----------------------------------------------------------------------

# Files a visitor uploads are owned by an id derived from the widget and the visitor (the
# token's ``v``, which only the platform can sign): ``File.api_key_id`` holds it, so the
# files app's own scoping (files.selectors) gives each visitor their uploads and nothing
# else, not even another visitor's of the same widget (ADR 0075).
_FILE_OWNER = uuid.UUID("8f0c1b7e-5d2a-4c39-9a61-2f4e7b0d6c15")
NO_FILES = uuid.UUID(int=0)  # the owner of no file: a caller with no visitor


def visitor_file_owner(*, widget: WidgetConfiguration, visitor: Visitor) -> uuid.UUID:
    return uuid.uuid5(_FILE_OWNER, f"{widget.pk}:{visitor.visitor_id}")


def visitor_file_upload(
    *, widget: WidgetConfiguration, visitor: Visitor, name: str, data: bytes, actor: Actor
):
    """A visitor's file, for their next questions: refused when the widget does not offer
    uploads (403 ``file_upload_disabled``), rate-limited like messages (counted apart), then
    the chat composer's path (``files.uploads.files_upload``): the same type and size
    checks, the organization's storage quota, extraction queued under its limits."""
    if not widget.file_upload_enabled:
        raise errors.PermissionDenied(
            "This widget does not take files.", code="file_upload_disabled"
        )
    rate_check(widget=widget, address=actor.ip_address, kind="file")
    [file] = uploads.files_upload(
        uploads=[uploads.Upload(name, data)],
        api_key_id=visitor_file_owner(widget=widget, visitor=visitor),
        actor=actor,
    )
    return file


# -- the chat caller --------------------------------------------------------------------------


@dataclass(frozen=True)
class WidgetKey:
    """The widget as a caller of the chat service: like an API key that may only chat,
    only with the widget's assistant, and only in the sessions created through it
    (``ChatSession.api_key_id`` holds the widget's id); the files it may attach are one
    visitor's (``files_owner_id``; none without a visitor)."""

    pk: uuid.UUID
    organization_id: int
    assistant_ids: list
    scopes: list = field(default_factory=lambda: [Scope.CHAT_WRITE])
    name: str = "widget"
    prefix: str = "widget"
    files_owner_id: uuid.UUID = NO_FILES

    def has_scope(self, scope: str) -> bool:
        return scope == Scope.CHAT_WRITE


def widget_caller(widget: WidgetConfiguration, visitor: Visitor | None = None) -> Caller:
    organization = widget.organization
    owner = visitor_file_owner(widget=widget, visitor=visitor) if visitor else NO_FILES
    return Caller(
        organization=organization,
        user=AnonymousUser(),
        membership=Membership(organization=organization, user=None, role=Role.MEMBER),
        api_key=WidgetKey(
            pk=widget.pk,
            organization_id=organization.pk,
            assistant_ids=[widget.assistant_id],
            files_owner_id=owner,
        ),
    )


def widget_stats(*, widgets) -> dict:
    """{widget id: {"conversations", "messages", "tokens", "cost"}} from the sessions."""
    ids = [w.pk for w in widgets]
    if not ids:
        return {}
    organization = widgets[0].organization
    with schema_context(organization.schema_name):
        rows = (
            ChatSession.objects.filter(api_key_id__in=ids, channel="widget")
            .values("api_key_id")
            .annotate(
                conversations=Count("id"),
                messages=Sum("message_count"),
                tokens=Sum("total_tokens"),
                cost=Sum("total_cost"),
            )
        )
        return {row["api_key_id"]: row for row in rows}

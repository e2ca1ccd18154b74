"""API keys: creation (the secret is returned once), revocation, verification.

The stored hash is an HMAC-SHA256 keyed with a server secret: a key has 192
random bits of secret, so a slow password hash would add nothing but latency
on every request, while the keyed hash means a leaked table alone is useless.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import timedelta

from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.models import AuditAction
from audit.services import Actor, audit_record
from core import socket_groups
from integrations import api_key_cache
from integrations.models import APIKey, Scope

KEY_PREFIX = "apk_"
# Refresh last_used_at at most this often: not one write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _hash(key: str) -> str:
    pepper = (settings.API_KEY_PEPPER or settings.SECRET_KEY).encode()
    return hmac.new(pepper, key.encode(), hashlib.sha256).hexdigest()


def _split(key: str) -> str | None:
    """The stored prefix of a presented key, or None when it is not shaped like one."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    prefix, sep, secret = key[len(KEY_PREFIX) :].partition("_")
    if not sep or not prefix or not secret:
        return None
    return KEY_PREFIX + prefix


def looks_like_api_key(value: str) -> bool:
    return _split(value) is not None


@transaction.atomic
def api_key_create(
    *, organization, name: str, scopes: list[str], assistant_ids=(), expires_at=None, actor: Actor
) -> tuple[APIKey, str]:
    """Create a key; returns it with its full secret, which is never stored."""
    unknown = sorted(set(scopes) - set(Scope.values))
    if unknown:
        raise ValidationError({"scopes": [f"Unknown scope: {s}." for s in unknown]})
    if not scopes:
        raise ValidationError({"scopes": ["Give the key at least one scope."]})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": ["The expiry must be in the future."]})
    prefix = KEY_PREFIX + secrets.token_hex(6)
    key = f"{prefix}_{secrets.token_urlsafe(24)}"
    api_key = APIKey.objects.create(
        organization=organization,
        name=name,
        prefix=prefix,
        secret_hash=_hash(key),
        scopes=sorted(set(scopes)),
        assistant_ids=list(dict.fromkeys(assistant_ids)),
        expires_at=expires_at,
        created_by=actor.user,
    )
    audit_record(
        actor=actor,
        action=AuditAction.API_KEY_CREATED,
        target=api_key,
        changes={"scopes": api_key.scopes, "assistants": [str(a) for a in api_key.assistant_ids]},
    )
    return api_key, key


@transaction.atomic
def api_key_revoke(*, api_key: APIKey, actor: Actor) -> APIKey:
    """Revoke at once: once committed, every process reads the key's row again at its
    next request (api_key_cache.py)."""
    api_key = APIKey.objects.select_for_update().get(pk=api_key.pk)
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        audit_record(actor=actor, action=AuditAction.API_KEY_REVOKED, target=api_key)
        socket_groups.sockets_close(
            group=socket_groups.api_key_group(api_key_id=api_key.pk),
            code=socket_groups.CLOSE_UNAUTHENTICATED,
            reason="This API key was revoked.",
        )
    return api_key


def api_key_verify(key: str, *, generation: str | None = None) -> APIKey | None:
    """The active key matching ``key``, or None (unknown, wrong secret, revoked, expired).
    ``generation``: the key cache's token read for this request (api_key_cache.py); the
    row is then served from this process's cache when it was read under that token."""
    prefix = _split(key)
    if prefix is None:
        return None
    api_key = api_key_cache.cached_key(prefix, generation)
    if api_key is None:
        api_key = APIKey.objects.select_related("organization").filter(prefix=prefix).first()
        if api_key is not None:
            api_key_cache.keep(api_key, generation)
    if api_key is None or not hmac.compare_digest(api_key.secret_hash, _hash(key)):
        return None
    return api_key if api_key.is_active else None


class TooManyKeyFailures(Exception):
    """Too many wrong keys from one client address: refused without checking."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many failed API-key attempts; retry in {retry_after} s.")
        self.retry_after = retry_after


def _failures_key(client_address: str | None) -> tuple[str, int, int]:
    window = settings.API_KEY_FAILURE_WINDOW_SECONDS
    now = int(time.time())
    start = now - now % window
    return f"api-key-failures:{client_address or '-'}:{start}", window, start + window - now


def api_key_authenticate(key: str, *, client_address: str | None) -> APIKey | None:
    """``api_key_verify``, throttled per client address: past
    ``API_KEY_FAILURES_PER_WINDOW`` wrong keys in a window, every key from that address
    is refused unchecked until the window ends (checking would answer the guess)."""
    cache = caches["shared"]
    name, window, remaining = _failures_key(client_address)
    # One round trip: the address's failures and the key cache's generation.
    values = cache.get_many([name, api_key_cache.GENERATION_KEY])
    if int(values.get(name, 0)) >= settings.API_KEY_FAILURES_PER_WINDOW:
        raise TooManyKeyFailures(max(remaining, 1))
    api_key = api_key_verify(key, generation=api_key_cache.generation_read(values))
    if api_key is None:
        cache.add(name, 0, timeout=window + 5)
        cache.incr(name)
    return api_key


def api_key_touch(*, api_key: APIKey, ip_address: str | None) -> None:
    """Record when and from where the key was last used (at most once a minute)."""
    now = timezone.now()
    if (
        api_key.last_used_at is not None
        and now - api_key.last_used_at < LAST_USED_RESOLUTION
        and api_key.last_used_ip == ip_address
    ):
        return
    APIKey.objects.filter(pk=api_key.pk).update(last_used_at=now, last_used_ip=ip_address)
    api_key.last_used_at, api_key.last_used_ip = now, ip_address
    api_key_cache.touched(api_key)

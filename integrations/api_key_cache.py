"""Verified API keys of this process, so a request does not read its key's row each time.

Every request with a key reads, in the one Redis round trip that already reads its
address's failure counter, a *generation* token. Any change to a key or an
organization (creation, revocation, expiry, scopes, deletion; the receivers in apps.py,
after the change commits) replaces the token with a new random one, and every process
then reads its keys from the database again at its next request: a revoked key is
refused at once, by every process. A key read from the database is kept under the
token read before it (so a change that commits after the read is never hidden), for
at most ``MAX_AGE_SECONDS``, which also bounds what a lost token write could hide, and
how long an organization's plan changed by a bare ``QuerySet.update`` (no signal; the
services save) is seen late by the per-key rate limit.
When the token cannot be read (Redis down, or not set yet) nothing is served from here.

What is kept is the rows' values, not model instances: each request gets its own
``APIKey`` and ``Organization`` objects (requests set attributes on them). Expiry is
checked on every request (``APIKey.is_active``), cached or not. See ADR 0102, addendum.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

import redis
from django.core.cache import caches
from django.db import transaction

from integrations.models import APIKey

logger = logging.getLogger(__name__)

GENERATION_KEY = "api-key-generation"
MAX_AGE_SECONDS = 30
MAX_ENTRIES = 10_000

_lock = threading.Lock()
# prefix -> (generation, monotonic deadline, the key's column values, its organization's)
_entries: dict[str, tuple[str, float, tuple, tuple]] = {}


def _copied(values) -> tuple:
    # Lists (scopes, assistant ids) are copied: a request must not change the kept row.
    return tuple(list(v) if isinstance(v, list) else v for v in values)


def _values(instance) -> tuple:
    return _copied(getattr(instance, f.attname) for f in instance._meta.concrete_fields)


def _fresh(model, values: tuple):
    fields = [f.attname for f in model._meta.concrete_fields]
    return model.from_db("default", fields, _copied(values))


def cached_key(prefix: str, generation: str | None) -> APIKey | None:
    """The key of ``prefix`` as read under ``generation``, as fresh objects; None when
    not kept, kept under another generation, or too old."""
    if generation is None:
        return None
    with _lock:
        entry = _entries.get(prefix)
    if entry is None or entry[0] != generation or entry[1] < time.monotonic():
        return None
    _, _, key_values, organization_values = entry
    api_key = _fresh(APIKey, key_values)
    api_key.organization = _fresh(
        APIKey._meta.get_field("organization").related_model, organization_values
    )
    return api_key


def keep(api_key: APIKey, generation: str | None) -> None:
    """Keep ``api_key`` (read from the database after ``generation`` was read)."""
    if generation is None:
        return
    entry = (
        generation,
        time.monotonic() + MAX_AGE_SECONDS,
        _values(api_key),
        _values(api_key.organization),
    )
    with _lock:
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()
        _entries[api_key.prefix] = entry


def touched(api_key: APIKey) -> None:
    """``api_key``'s last use was just written: the kept row says so too (else every
    request served from here would find it stale and write it again)."""
    with _lock:
        entry = _entries.get(api_key.prefix)
        if entry is not None:
            _entries[api_key.prefix] = (entry[0], entry[1], _values(api_key), entry[3])


def generation_read(values: dict) -> str | None:
    """The token among ``values`` (a ``get_many`` reply that asked for
    ``GENERATION_KEY``); a first token is written when there is none."""
    generation = values.get(GENERATION_KEY)
    if generation is None:
        caches["shared"].add(GENERATION_KEY, uuid.uuid4().hex, timeout=None)
    return generation


def invalidate() -> None:
    """Forget every kept key, here at once and in every process at its next request
    (within ``MAX_AGE_SECONDS`` if Redis cannot be written now)."""
    with _lock:
        _entries.clear()
    try:
        caches["shared"].set(GENERATION_KEY, uuid.uuid4().hex, timeout=None)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        logger.error("API key cache: other processes keep keys up to %ss: %s", MAX_AGE_SECONDS, exc)


def invalidate_on_commit(**kwargs) -> None:
    """Receiver of key and organization changes: this process forgets its keys now, and
    every process once the change is visible (a new token before the commit would let
    another process keep the old row under it)."""
    with _lock:
        _entries.clear()
    transaction.on_commit(invalidate)

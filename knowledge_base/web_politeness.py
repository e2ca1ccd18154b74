"""Politeness toward the sites URL documents come from, shared by every worker:

- **robots.txt is cached** per origin (``KNOWLEDGE_ROBOTS_CACHE_SECONDS``; RFC 9309 asks
  crawlers not to keep it longer than 24 hours): a sitemap of 1,000 pages asks a site for
  its robots.txt once, not once per page. Only answers are cached (a robots.txt read, or
  a 4xx that allows everything); one that could not be read is asked again next time.
- **One request at a time per host, spaced by its crawl delay**: the ``Crawl-delay`` (or
  ``Request-rate``) robots.txt gives our user agent, at least
  ``KNOWLEDGE_WEB_HOST_DELAY_SECONDS`` and at most ``KNOWLEDGE_WEB_MAX_CRAWL_DELAY_SECONDS``.
  Each fetch reserves the host's next free moment in Redis (one atomic script, so two
  workers never get the same moment); a fetch whose moment is more than
  ``SHORT_WAIT_SECONDS`` away is queued again for that moment instead of holding a worker.

Redis being unreachable never stops a fetch: the cache is skipped and the delay is not
enforced for that fetch (logged).
"""

from __future__ import annotations

import hashlib
import logging
import time
from functools import cache

import redis
from django.conf import settings
from django.core.cache import caches

from core.redis_pool import redis_client

logger = logging.getLogger(__name__)

# A wait up to this long is slept in the task; a longer one is a new, later delivery.
SHORT_WAIT_SECONDS = 1.0
ALLOW_ALL = "\x00allow-all"  # a robots.txt answered 4xx: everything is allowed

_RESERVE = """
local now = tonumber(ARGV[1])
local delay = tonumber(ARGV[2])
local free = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, free)
redis.call('SET', KEYS[1], tostring(slot + delay), 'PX', math.ceil((slot + delay - now) * 1000) + 1000)
return tostring(slot)
"""


@cache
def _client() -> redis.Redis:
    return redis_client(settings.REDIS_URL)


def _key(kind: str, value: str) -> str:
    # Hashed: an origin may be long; the shared prefix keeps test runs apart.
    digest = hashlib.sha256(value.lower().encode()).hexdigest()[:32]
    return caches["shared"].make_key(f"web-{kind}:{digest}")


def robots_cached(origin: str) -> str | None:
    """The cached robots.txt of ``origin`` (``ALLOW_ALL`` for a 4xx), or None."""
    try:
        value = _client().get(_key("robots", origin))
    except redis.RedisError as exc:
        logger.warning("robots.txt cache unavailable: %r", exc)
        return None
    return value.decode("utf-8", errors="replace") if value is not None else None


def robots_remember(origin: str, text: str) -> None:
    seconds = settings.KNOWLEDGE_ROBOTS_CACHE_SECONDS
    if seconds <= 0:
        return
    try:
        _client().set(_key("robots", origin), text.encode(), ex=seconds)
    except redis.RedisError as exc:
        logger.warning("robots.txt cache unavailable: %r", exc)


def robots_forget(origin: str) -> None:
    """Drop ``origin``'s cached robots.txt (tests; an operator after a site's change)."""
    try:
        _client().delete(_key("robots", origin))
    except redis.RedisError as exc:
        logger.warning("robots.txt cache unavailable: %r", exc)


def host_delay(requested: float | None) -> float:
    """Seconds between two requests to one host: the site's wish within our bounds."""
    delay = max(float(requested or 0), settings.KNOWLEDGE_WEB_HOST_DELAY_SECONDS)
    return min(delay, settings.KNOWLEDGE_WEB_MAX_CRAWL_DELAY_SECONDS)


def host_reserve(host: str, delay: float) -> float:
    """Reserve the next moment ``host`` may be asked; returns the seconds to wait for
    it (0: now). Every call reserves a moment of its own, ``delay`` after the last."""
    if delay <= 0:
        return 0.0
    now = time.time()
    try:
        slot = float(_client().eval(_RESERVE, 1, _key("host", host), now, delay))
    except (redis.RedisError, ValueError) as exc:
        logger.warning("crawl delay not enforced for %s: %r", host, exc)
        return 0.0
    return max(0.0, slot - now)

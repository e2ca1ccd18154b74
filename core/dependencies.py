"""When PostgreSQL or Redis is down: which errors mean "a dependency is unreachable",
and the one answer the API gives for them (503 ``service_unavailable``).

An outage is not a bug in the request, nor in our code: the caller should retry
later, and the platform recovers by itself when the service returns (Django opens a
new database connection per request, redis-py and kombu reconnect on the next use).
What each Redis-backed counter does meanwhile (fail open or closed) is decided where
the counter lives and listed in docs/adr/0014-outages-and-malformed-requests.md.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import redis
from django.conf import settings
from django.db import InterfaceError as DjangoInterfaceError
from django.db import OperationalError as DjangoOperationalError
from kombu.exceptions import OperationalError as KombuOperationalError

from core import errors

logger = logging.getLogger(__name__)

# How long clients are told to wait before retrying (Retry-After).
RETRY_AFTER_SECONDS = 5

# PostgreSQL SQLSTATEs that mean "the server is unreachable or going away", as opposed
# to an error of one statement (a lock or statement timeout, a deadlock: those are
# OperationalErrors too, but they are not outages and stay 500s so they are seen).
_PG_UNAVAILABLE_STATES = {"57P01", "57P02", "57P03"}  # admin/crash shutdown, starting up


class DependencyUnavailable(errors.ServiceUnavailable):
    """ServiceUnavailable naming the dependency; the API answers 503 with Retry-After."""

    message = "A service the platform depends on is unavailable. Retry shortly."

    def __init__(self, dependency: str, message: str | None = None):
        super().__init__(message)
        self.dependency = dependency
        self.retry_after = RETRY_AFTER_SECONDS


def unavailable_dependency(exc: BaseException | None) -> str | None:
    """``"database"``, ``"redis"`` or ``"broker"`` when ``exc`` says that dependency is
    unreachable; None for every other error."""
    if exc is None:
        return None
    if isinstance(exc, DependencyUnavailable):
        return exc.dependency
    if isinstance(exc, DjangoOperationalError | DjangoInterfaceError):
        state = getattr(exc.__cause__, "sqlstate", None)
        if state is None or state.startswith("08") or state in _PG_UNAVAILABLE_STATES:
            return "database"
        return None
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        return "redis"
    if isinstance(exc, KombuOperationalError):
        return "broker"
    return None


def as_service_unavailable(exc: BaseException | None) -> DependencyUnavailable | None:
    dependency = unavailable_dependency(exc)
    if dependency is None:
        return None
    if not isinstance(exc, DependencyUnavailable):
        logger.warning("%s unavailable: %s: %s", dependency, type(exc).__name__, exc, exc_info=exc)
        exc = DependencyUnavailable(dependency)
    return exc


@lru_cache(maxsize=4)
def _redis_client(url: str) -> redis.Redis:
    # One pool per URL, reused: a check costs a PING on an open connection.
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def require_broker() -> None:
    """Raise DependencyUnavailable unless the Celery broker (Redis) answers.

    Called before storing work that only a task can finish (an upload), so that a
    broker outage refuses the request with nothing stored, instead of storing a
    document no task will ever be sent for."""
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return  # another transport: kombu reports its own errors when publishing
    try:
        _redis_client(url).ping()
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        logger.warning("Celery broker unavailable: %s", exc)
        raise DependencyUnavailable(
            "broker", "Uploads are paused: the processing queue is unavailable. Retry shortly."
        ) from exc

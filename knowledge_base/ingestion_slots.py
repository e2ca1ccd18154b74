"""Per-organization ingestion slots: a counting semaphore in Redis, leased, across workers.

One organization processes at most `KNOWLEDGE_INGESTION_CONCURRENCY_PER_ORGANIZATION`
documents at a time, whichever worker runs them; a document whose organization is at its
limit goes back to the queue (see docs/adr/0013-ingestion-fairness.md). A slot is a
member of a sorted set scored by its expiry: a worker that dies loses its slot when the
lease runs out, and a running ingestion renews it as it makes progress.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import redis
from django.conf import settings
from django.core.cache import caches

from core.redis_pool import redis_client

# Longer than any stretch of an ingestion without progress (a parse is bounded by its wall
# clock limit, and each embedding batch renews the lease).
LEASE_SECONDS = 600

_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[4]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  return 1
end
return 0
"""


@cache
def _client() -> redis.Redis:
    return redis_client(settings.REDIS_URL)


def _key(organization_id) -> str:
    # The shared cache's prefix keeps concurrent test runs (TEST_RUN_ID) apart.
    return caches["shared"].make_key(f"ingestion-slots:{organization_id}")


class Slot:
    def __init__(self, key: str, token: str) -> None:
        self.key, self.token = key, token

    def renew(self) -> None:
        if not self.key:
            return
        _client().zadd(self.key, {self.token: time.time() + LEASE_SECONDS}, xx=True)


@contextmanager
def ingestion_slot(*, organization_id, token: str) -> Iterator[Slot | None]:
    """A slot of the organization's ingestion concurrency, or None when all are taken.

    `token` names the holder (the task id): a redelivered task finds its own slot again.
    """
    limit = settings.KNOWLEDGE_INGESTION_CONCURRENCY_PER_ORGANIZATION
    if limit <= 0:
        yield Slot("", token)  # no limit configured: nothing to hold
        return
    key, now = _key(organization_id), time.time()
    acquired = _client().eval(
        _ACQUIRE, 1, key, now, now + LEASE_SECONDS, token, limit, LEASE_SECONDS * 2
    )
    if not acquired:
        yield None
        return
    try:
        yield Slot(key, token)
    finally:
        _client().zrem(key, token)


def ingestion_slot_release(*, organization_id, token: str) -> None:
    """Free the slot of a holder known to be dead (the recovery sweep found its document
    lease expired), so the document's next delivery need not wait out the slot lease."""
    if settings.KNOWLEDGE_INGESTION_CONCURRENCY_PER_ORGANIZATION > 0 and token:
        _client().zrem(_key(organization_id), token)


def ingestion_slots_held(*, organization_id) -> int:
    """Slots of the organization held now (unexpired leases)."""
    key = _key(organization_id)
    return _client().zcount(key, time.time(), "+inf")

"""One Redis connection pool per server and options, for the whole process.

Django's ``RedisCache`` builds its client, and with it a connection pool, per cache
object, and ``django.core.cache.caches`` holds one cache object per thread: under ASGI
every request runs in a thread of its own, so every request opened new connections to
Redis (a TCP connect, ``HELLO``, two ``CLIENT SETINFO``...) for each cache alias it used,
before its first command. The caches' ``OPTIONS["pool_class"]`` names this class:
``from_url`` hands every cache object of the same server and options the same pool
(redis-py's pools are thread-safe, and reset themselves in a forked child), so a
request borrows a connection that is already open.
"""

from __future__ import annotations

import threading

import redis

_lock = threading.Lock()
_pools: dict[tuple, redis.ConnectionPool] = {}


class SharedConnectionPool(redis.ConnectionPool):
    @classmethod
    def from_url(cls, url: str, **kwargs) -> redis.ConnectionPool:
        key = (cls, url, tuple(sorted((name, repr(value)) for name, value in kwargs.items())))
        with _lock:
            pool = _pools.get(key)
            if pool is None:
                pool = _pools[key] = super().from_url(url, **kwargs)
            return pool


def redis_client(url: str, *, timeout: float = 5) -> redis.Redis:
    """A client of ``url`` on the process's shared pool: a command borrows an open
    connection instead of connecting anew (a lost connection is replaced on next use)."""
    pool = SharedConnectionPool.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout
    )
    return redis.Redis(connection_pool=pool)

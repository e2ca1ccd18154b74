"""PostgreSQL (with pgvector) and Redis: given by URL, or started locally.

With DATABASE_URL / REDIS_URL unset, the URLs of this checkout's embedded servers
(config.localservices). Importing the settings starts nothing: the entry points
(`make dev`, manage.py, the test suite, the benchmarks) start the servers explicitly
(see ADR 0002 and the recovery ADR).
"""

import environ

from config import localservices

env = environ.Env()

DATABASE_URL = env("DATABASE_URL", default="") or localservices.postgres_url()
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
DATABASES["default"]["ENGINE"] = "django_tenants.postgresql_backend"
# What django-tenants wraps: Django's PostgreSQL backend, with migrations Citus can run
# (core/db/postgresql/base.py).
ORIGINAL_BACKEND = "core.db.postgresql"
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# A pool of PostgreSQL connections per process (psycopg_pool through Django's "pool"
# option), for the web server: under ASGI every request runs in a thread of its own, so
# without a pool each one opened (and PostgreSQL forked) a new connection. config/asgi.py
# turns it on for the process it serves (ADR 0021); commands, tests and Celery workers
# (Celery's fixup closes connections around every task) keep plain connections.
# django-tenants sets search_path again on every connection taken from the pool.
DB_POOL_MAX_SIZE = env.int("DB_POOL_MAX_SIZE", default=0)
if DB_POOL_MAX_SIZE > 0:
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # a pool replaces persistent connections
    DATABASES["default"]["OPTIONS"] = {
        **DATABASES["default"].get("OPTIONS", {}),
        "pool": {
            "min_size": env.int("DB_POOL_MIN_SIZE", default=2),
            "max_size": DB_POOL_MAX_SIZE,
            # A request waits this long for a free connection, then fails (503).
            "timeout": env.float("DB_POOL_TIMEOUT", default=5.0),
            # Connections are replaced now and then (PostgreSQL backends grow).
            "max_lifetime": 600.0,
            "max_idle": 60.0,
            # While PostgreSQL is down the pool retries with a growing delay; giving up
            # after a few seconds lets the next request try at once, so the process is
            # serving again as soon as the server is back (tests/test_outages.py).
            "reconnect_timeout": env.float("DB_POOL_RECONNECT_TIMEOUT", default=3.0),
        },
    }

REDIS_URL = env("REDIS_URL", default="") or localservices.redis_url()
# A Redis that stops answering must fail a request in seconds, not hang it: the callers
# then fail open or answer 503 (docs/adr/0014-outages-and-malformed-requests.md).
# One pool per process, not per thread (core/redis_pool.py): a request's first command
# does not open a connection.
REDIS_CACHE_OPTIONS = {
    "socket_connect_timeout": 2,
    "socket_timeout": 2,
    "pool_class": "core.redis_pool.SharedConnectionPool",
}
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        # Keys are prefixed with the schema so one organization never reads another's.
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
        "OPTIONS": REDIS_CACHE_OPTIONS,
    },
    # Platform-wide counters (rate limits per API key and per organization): the
    # same key whichever schema is active, so a key's requests on any host add up.
    "shared": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "shared",
        "OPTIONS": REDIS_CACHE_OPTIONS,
    },
}

# Channels' layer (chat sockets): the same Redis. The services send "close" to the
# sockets of a removed member, a logged-out session or a revoked key through it
# (core.socket_groups), from whichever process made the change.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # A socket waits for its messages with BZPOPMIN for 5 s (channels-redis),
            # the very time redis-py (8+) gives up reading by default: the read must
            # outlast the wait, or an idle socket's consumer dies at random.
            "hosts": [{"address": REDIS_URL, "socket_timeout": 15, "socket_connect_timeout": 2}],
            "prefix": env("CHANNEL_LAYER_PREFIX", default="asgi"),
        },
    }
}

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

REDIS_URL = env("REDIS_URL", default="") or localservices.redis_url()
# A Redis that stops answering must fail a request in seconds, not hang it: the callers
# then fail open or answer 503 (docs/adr/0014-outages-and-malformed-requests.md).
REDIS_CACHE_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 2}
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

"""Browser tests (tests/browser/): the development platform, run by the test harness.

The harness starts uvicorn and a Celery worker with this module against a database and
Redis key space of their own (committed data, unlike pytest-django's rolled-back test
database). Differences from development: e-mail goes to files the tests read (the
verification link), fast password hashing, no rate limits, and every Redis key of the
run carries the database's name so concurrent runs sharing one Redis never meet.
"""

from config.settings.dev import *  # noqa: F403
from config.settings.dev import (
    BASE_DIR,
    CACHES,
    CELERY_BROKER_TRANSPORT_OPTIONS,
    CHANNEL_LAYERS,
    DATABASES,
    REST_FRAMEWORK,
    env,
)

DEBUG = env.bool("DEBUG", default=False)
EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", default=str(BASE_DIR / ".data" / "browser-mail"))
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ACCOUNT_RATE_LIMITS = False
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {"anon": "100000/min", "user": "100000/min", "signup": "100000/min"},
}

_RUN = DATABASES["default"]["NAME"]
for _cache in CACHES.values():
    _cache["KEY_PREFIX"] = f"{_RUN}:{_cache.get('KEY_PREFIX', '')}"
CELERY_BROKER_TRANSPORT_OPTIONS = {
    **CELERY_BROKER_TRANSPORT_OPTIONS,
    "global_keyprefix": f"{_RUN}:",
}
CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = f"{_RUN}:asgi"
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"global_keyprefix": f"{_RUN}:"}

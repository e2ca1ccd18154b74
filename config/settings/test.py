"""Tests: the real PostgreSQL and Redis, fast password hashing, mail in memory."""

from config.settings.base import *  # noqa: F403
from config.settings.base import (
    CACHES,
    CELERY_BROKER_TRANSPORT_OPTIONS,
    CELERY_BROKER_URL,
    CHANNEL_LAYERS,
    DATABASES,
    REST_FRAMEWORK,
    env,
)

SECRET_KEY = "test-only-key-0123456789abcdefghijklmnopqrstuvwxyz-0123456789"
DEBUG = False
BASE_DOMAIN = "localhost"
SITE_PORT = ""
ALLOWED_HOSTS = ["localhost", ".localhost", "testserver"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_RATE_LIMITS = False
# Throttling is exercised by its own test with explicit rates.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {"anon": "100000/min", "user": "100000/min", "signup": "100000/min"},
}
CELERY_TASK_ALWAYS_EAGER = False
# Several test runs may share one PostgreSQL and Redis (e.g. two checkouts): give
# each a TEST_RUN_ID and it gets its own test database and cache keys.
TEST_RUN_ID = env("TEST_RUN_ID", default="")
if TEST_RUN_ID:
    DATABASES["default"]["TEST"] = {"NAME": f"test_platform_{TEST_RUN_ID}"}
# pytest-xdist's workers (gw0, gw1...; `make test` runs them) are concurrent runs too:
# pytest-django gives each a test database of its own (the name suffixed _gw0...), and
# the worker's name joins the run's in every Redis key below. Processes the tests start
# with these settings (a Celery worker, uvicorn) inherit the variable, hence the keys.
TEST_WORKER = env("PYTEST_XDIST_WORKER", default="")
TEST_KEY_SPACE = "-".join(part for part in (TEST_RUN_ID, TEST_WORKER) if part)
# Always a key space of the tests' own (never a dev server's counters), emptied when a
# run starts (conftest.py): a second run within a rate-limit window starts from zero.
_KEY_SPACE = f"test-{TEST_KEY_SPACE}" if TEST_KEY_SPACE else "test"
CACHES["default"]["KEY_PREFIX"] = _KEY_SPACE
CACHES["shared"]["KEY_PREFIX"] = f"shared-{_KEY_SPACE}"
CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = f"asgi-{_KEY_SPACE}"
# A separate Redis database so tests never see a running dev server's queue.
# (Concurrent runs also set TEST_CELERY_BROKER_URL to a Redis database of their own.)
CELERY_BROKER_URL = env(
    "TEST_CELERY_BROKER_URL", default=CELERY_BROKER_URL.rsplit("/", 1)[0] + "/9"
)
CELERY_RESULT_BACKEND = CELERY_BROKER_URL
if TEST_WORKER:
    # Each xdist worker's queue, results and Celery worker in that database are its own.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        **CELERY_BROKER_TRANSPORT_OPTIONS,
        "global_keyprefix": f"{TEST_KEY_SPACE}:",
    }
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"global_keyprefix": f"{TEST_KEY_SPACE}:"}
# Static files straight from the apps (no collectstatic needed outside production).
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# The fake AI providers (assistants/tests/providers/fake_server.py) listen on loopback;
# the outbound policy's own tests turn this off with override_settings.
OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]
# Failed API-key throttling is exercised by tests/security with explicit limits.
API_KEY_FAILURES_PER_WINDOW = 100_000

# Gmail: nothing leaves the machine; the tests point these at the local fake
# (integrations/tests/fakes/gmail.py). Port 9 (discard) refuses the connection.
GOOGLE_OAUTH_TOKEN_URL = "http://127.0.0.1:9/token"
GMAIL_API_BASE = "http://127.0.0.1:9/"

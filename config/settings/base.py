"""Settings shared by every environment. Every value comes from the environment.

Topic modules (tenancy, database, api, auth, celery, observability) are pulled
in at the end so each concern is read in one place.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="")
# The domain under which organizations live: acme.<BASE_DOMAIN>.
BASE_DOMAIN = env("BASE_DOMAIN", default="localhost")
SITE_SCHEME = env("SITE_SCHEME", default="http")
# Port appended to organization URLs we hand out (sign-up redirect, e-mails);
# empty for 80/443 behind a proxy.
SITE_PORT = env("SITE_PORT", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[BASE_DOMAIN, f".{BASE_DOMAIN}"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

MIDDLEWARE = [
    # Request id (X-Request-ID), latency metrics by route, the context of log lines.
    "core.request_context.RequestContextMiddleware",
    # Then: answers /healthz and /readyz before tenant lookup or host checks,
    # so load balancers get an answer even when the database is down.
    "core.health.HealthCheckMiddleware",
    # Next: every /api/ answer in the error format (oversized bodies refused before they
    # are read, HTML error pages and outages turned into JSON 4xx/503).
    "core.api.request_errors.APIErrorsMiddleware",
    "integrations.middleware.APIKeyOrganizationMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "core.headers.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # After authentication: the organization and user of the request, for log lines.
    "core.request_context.IdentityMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

STATIC_URL = "/static/"
STATIC_ROOT = env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [d for d in [BASE_DIR / "frontend" / "dist"] if d.exists()]
MEDIA_URL = "/media/"
MEDIA_ROOT = env("MEDIA_ROOT", default=str(BASE_DIR / ".data" / "media"))
from config.settings.storage import *  # noqa: E402, F403
from config.settings.storage import STORAGES_DEFAULT  # noqa: E402

STORAGES = {
    "default": STORAGES_DEFAULT,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default=f"no-reply@{BASE_DOMAIN}")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# LOG_FORMAT=json: one JSON object a line with request id, organization and user
# (core/request_context.py); plain text otherwise.
LOG_FORMAT = env("LOG_FORMAT", default="plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "core.request_context.ContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "core.request_context.JSONFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

from config.settings.ai import *  # noqa: E402, F403
from config.settings.api import *  # noqa: E402, F403
from config.settings.auth import *  # noqa: E402, F403
from config.settings.automation import *  # noqa: E402, F403
from config.settings.billing import *  # noqa: E402, F403
from config.settings.bots import *  # noqa: E402, F403
from config.settings.celery import *  # noqa: E402, F403
from config.settings.conversations import *  # noqa: E402, F403
from config.settings.database import *  # noqa: E402, F403
from config.settings.frontend import *  # noqa: E402, F403
from config.settings.gmail import *  # noqa: E402, F403
from config.settings.observability import *  # noqa: E402, F403
from config.settings.recovery import *  # noqa: E402, F403
from config.settings.security import *  # noqa: E402, F403
from config.settings.tenancy import *  # noqa: E402, F403
from config.settings.webhooks import *  # noqa: E402, F403
from config.settings.widget import *  # noqa: E402, F403

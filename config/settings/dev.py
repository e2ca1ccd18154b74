"""Local development: debug on, mail to the console, a stable dev secret."""

from config.settings.base import *  # noqa: F403
from config.settings.base import env

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env("SECRET_KEY", default="dev-only-insecure-key-change-me-0123456789abcdefghijklmnop")
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
# The links the platform hands out (e-mails, hand-offs, create_demo) use the port
# `make dev` serves on (DEV_PORT) unless SITE_PORT says otherwise (a proxy in front).
SITE_PORT = env("SITE_PORT", default=env("DEV_PORT", default="8000"))
_PORT = f":{SITE_PORT}" if SITE_PORT else ""
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", ".localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list(
    "CSRF_TRUSTED_ORIGINS", default=[f"http://localhost{_PORT}", f"http://*.localhost{_PORT}"]
)
# Static files straight from the apps (no collectstatic needed outside production).
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# A model server on this machine (Ollama, LM Studio) is the usual development setup.
OUTBOUND_ALLOWED_NETWORKS = env.list(
    "OUTBOUND_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"]
)

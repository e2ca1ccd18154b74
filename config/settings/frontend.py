"""The dashboard (frontend/, React + Vite): where its build lives, how Django serves
it, and django-allauth's headless API the app signs in with.

Vite writes ``frontend/dist``: ``index.html`` (served by ``users.spa`` for every app
route, with the host's configuration injected) and ``assets/`` with content-hashed
names, which whitenoise serves from the site root with a one-year cache.
"""

from pathlib import Path

import environ

env = environ.Env()

FRONTEND_DIST_DIR = Path(
    env("FRONTEND_DIST_DIR", default=str(Path(__file__).resolve().parents[2] / "frontend" / "dist"))
)
# Whitenoise serves the build's files at the site root (/assets/...). It warns about a
# missing directory, so the setting is only on once `make frontend` has built it.
WHITENOISE_ROOT = str(FRONTEND_DIST_DIR) if FRONTEND_DIST_DIR.is_dir() else None
# Vite names assets <name>-<hash>.<ext>: they never change, cache them for good.
WHITENOISE_IMMUTABLE_FILE_TEST = r"^/assets/.+-[A-Za-z0-9_-]{8,}\.[a-z0-9]+$"

# allauth's headless API (/_allauth/browser/v1/...): login, TOTP, password reset for
# the app. The server-rendered /accounts/ pages stay available (no-JavaScript path,
# e-mail confirmation).
HEADLESS_ONLY = False
HEADLESS_CLIENTS = ("browser",)
HEADLESS_SERVE_SPECIFICATION = False
HEADLESS_ADAPTER = "users.spa.HeadlessAdapter"
# Links in e-mails sent by a headless request lead back into the app (see
# users.spa.HeadlessAdapter); e-mails sent by the server-rendered pages keep theirs.
HEADLESS_FRONTEND_URLS = {
    "account_reset_password": "/password/reset",
    "account_reset_password_from_key": "/password/reset/key/{key}",
    "account_signup": "/signup",
    # Every confirmation link (users.adapters.AccountAdapter), headless or not.
    "account_confirm_email": "/verify-email/{key}",
}

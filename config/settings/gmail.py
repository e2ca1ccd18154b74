"""Gmail, per member (integrations/gmail, docs/gmail.md). Without GOOGLE_OAUTH_CLIENT_ID
the "Connect Gmail" button explains what the operator must set."""

import environ

env = environ.Env()

# The platform's Google OAuth client ("Web application"); its one redirect URI is
# <scheme>://<BASE_DOMAIN>/integrations/gmail/oauth/callback.
GOOGLE_OAUTH_CLIENT_ID = env("GOOGLE_OAUTH_CLIENT_ID", default="")
GOOGLE_OAUTH_CLIENT_SECRET = env("GOOGLE_OAUTH_CLIENT_SECRET", default="")
# Google's addresses; tests and benchmarks point them at the local wire-level fake
# (integrations/tests/fakes/gmail.py).
GOOGLE_OAUTH_AUTHORIZE_URL = env(
    "GOOGLE_OAUTH_AUTHORIZE_URL", default="https://accounts.google.com/o/oauth2/auth"
)
GOOGLE_OAUTH_TOKEN_URL = env(
    "GOOGLE_OAUTH_TOKEN_URL", default="https://oauth2.googleapis.com/token"
)
GMAIL_API_BASE = env("GMAIL_API_BASE", default="https://gmail.googleapis.com/")
# Threads fetched per sync run at most (a larger label continues on the next run).
GMAIL_SYNC_MAX_THREADS = env.int("GMAIL_SYNC_MAX_THREADS", default=500)

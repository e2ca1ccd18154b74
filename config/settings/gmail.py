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
# The scheduled sync (beat task integrations.gmail_sync_due, every
# GMAIL_SYNC_SWEEP_INTERVAL seconds): a configured, connected mailbox is synced again
# once its last sync is this many minutes old; at most GMAIL_SYNC_BATCH connections are
# queued per beat run (the oldest first), so a thousand mailboxes never land at once.
GMAIL_SYNC_INTERVAL_MINUTES = env.int("GMAIL_SYNC_INTERVAL_MINUTES", default=15)
GMAIL_SYNC_BATCH = env.int("GMAIL_SYNC_BATCH", default=50)

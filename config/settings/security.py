"""Security: the outbound HTTP policy (core/outbound.py) and response headers."""

import environ

env = environ.Env()

# --- outbound HTTP (docs/security.md) -------------------------------------------------
# Host names and address ranges that server-side requests may reach although they are
# loopback/private/link-local (e.g. a self-hosted Ollama on localhost:11434). Operator
# settings only: no tenant can widen them.
OUTBOUND_ALLOWED_HOSTS = env.list("OUTBOUND_ALLOWED_HOSTS", default=[])
OUTBOUND_ALLOWED_NETWORKS = env.list("OUTBOUND_ALLOWED_NETWORKS", default=[])
OUTBOUND_MAX_RESPONSE_BYTES = env.int("OUTBOUND_MAX_RESPONSE_BYTES", default=32 * 1024 * 1024)
OUTBOUND_MAX_RESPONSE_SECONDS = env.float("OUTBOUND_MAX_RESPONSE_SECONDS", default=600.0)

# --- response headers (core/headers.py adds CSP, Permissions-Policy, CORP) ----------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

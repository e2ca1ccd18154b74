"""The AI layer: platform-wide default provider keys, timeouts, credential encryption."""

import environ

env = environ.Env()

# Platform-wide defaults, used when an organization has stored no credential of its own.
AI_DEFAULT_CREDENTIALS = {
    "openai": {
        "api_key": env("OPENAI_API_KEY", default=""),
        "base_url": env("OPENAI_BASE_URL", default=""),
        "organization": env("OPENAI_ORGANIZATION", default=""),
    },
    "anthropic": {"api_key": env("ANTHROPIC_API_KEY", default=""), "base_url": ""},
    "google": {"api_key": env("GOOGLE_API_KEY", default=""), "base_url": ""},
    "openai_compatible": {
        "api_key": env("OPENAI_COMPATIBLE_API_KEY", default=""),
        "base_url": env("OPENAI_COMPATIBLE_BASE_URL", default=""),
    },
}
AI_REQUEST_TIMEOUT = env.float("AI_REQUEST_TIMEOUT", default=60.0)
AI_MAX_RETRIES = env.int("AI_MAX_RETRIES", default=2)
# A reranker (ADR 0100) that takes longer is skipped: the search keeps its own order.
RERANK_TIMEOUT_SECONDS = env.float("RERANK_TIMEOUT_SECONDS", default=5.0)

# Fernet keys, newest first (core/crypto.py).
CREDENTIALS_ENCRYPTION_KEYS = env.list("CREDENTIALS_ENCRYPTION_KEYS", default=[])
# Outside production a key derived from SECRET_KEY is used when none is set.
CREDENTIALS_KEY_FROM_SECRET = True

# Chat: the longest message a user may send (characters).
CHAT_MAX_MESSAGE_CHARS = env.int("CHAT_MAX_MESSAGE_CHARS", default=8000)
# Answering requests one worker prepares at once (each holds a thread and a database
# connection until its stream starts); the rest wait on the event loop (chat/admission.py).
CHAT_PREPARING_MAX = env.int("CHAT_PREPARING_MAX", default=16)
# Answers whose streams ended are stored together by one writer per worker, in rounds at
# least this far apart (one transaction per organization a round; chat/finishing.py).
CHAT_FINISH_INTERVAL_SECONDS = env.float("CHAT_FINISH_INTERVAL_SECONDS", default=0.1)

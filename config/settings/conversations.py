"""Conversation intelligence: imports, history search, analysis (docs/conversations.md)."""

import environ

from config.settings.celery import CELERY_BEAT_SCHEDULE

env = environ.Env()

# The largest export accepted (the upload, and the JSON or HTML inside a zip).
CONVERSATIONS_IMPORT_MAX_MB = env.int("CONVERSATIONS_IMPORT_MAX_MB", default=90)
CONVERSATIONS_IMPORT_MAX_CONVERSATIONS = env.int(
    "CONVERSATIONS_IMPORT_MAX_CONVERSATIONS", default=50_000
)
# Gemini's Takeout has no conversation ids: a gap longer than this starts a new one.
CONVERSATIONS_GEMINI_GAP_MINUTES = env.int("CONVERSATIONS_GEMINI_GAP_MINUTES", default=30)
# An import whose worker stopped renewing its lease for this long is taken over.
CONVERSATIONS_IMPORT_LEASE_SECONDS = env.int("CONVERSATIONS_IMPORT_LEASE_SECONDS", default=300)
# "provider/model_id" of the embedding model for messages, unless the organization
# chose one (ConversationSettings): the local embedder by default.
CONVERSATIONS_EMBEDDING_MODEL = env(
    "CONVERSATIONS_EMBEDDING_MODEL", default="local/all-minilm-l6-v2"
)
CONVERSATIONS_EMBED_BATCH_SIZE = env.int("CONVERSATIONS_EMBED_BATCH_SIZE", default=64)
# The start of a message that is embedded (a long answer's vector is its opening).
CONVERSATIONS_EMBED_MAX_CHARS = env.int("CONVERSATIONS_EMBED_MAX_CHARS", default=2000)

CELERY_BEAT_SCHEDULE.update(
    {
        # Ends idle conversations (and analyses them), resumes imports whose worker
        # died, and indexes messages that no task indexed yet.
        "chat-conversations-sweep": {
            "task": "chat.conversations_sweep",
            "schedule": env.float("CONVERSATIONS_SWEEP_INTERVAL", default=300.0),
        },
    }
)

"""Leases on work in progress and the sweeps that recover it (docs/adr: recovery).

Every value is in seconds unless named otherwise.
"""

import environ

env = environ.Env()

# A document being ingested is held by one task delivery for this long, renewed
# every third of it while the task runs; a lease nobody renewed means its worker died.
DOCUMENT_LEASE_SECONDS = env.int("DOCUMENT_LEASE_SECONDS", default=90)
# A document still `pending` after this long lost its task (never started): queue it again.
# Generous, because a long queue is not a lost task.
DOCUMENT_PENDING_TIMEOUT_SECONDS = env.int("DOCUMENT_PENDING_TIMEOUT_SECONDS", default=30 * 60)
# Times a stalled document is queued again before it is marked failed with the reason.
DOCUMENT_MAX_RECOVERIES = env.int("DOCUMENT_MAX_RECOVERIES", default=3)

# A streaming answer stores its text so far this often (the heartbeat that tells a live
# stream from an orphan)...
CHAT_STREAM_HEARTBEAT_SECONDS = env.float("CHAT_STREAM_HEARTBEAT_SECONDS", default=10.0)
# ...and one whose heartbeat stopped this long ago is an orphan (its web process died):
# the sweep stores it `interrupted` with that text.
CHAT_STREAM_ORPHAN_AFTER_SECONDS = env.int("CHAT_STREAM_ORPHAN_AFTER_SECONDS", default=60)

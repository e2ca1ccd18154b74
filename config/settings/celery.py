"""Celery on Redis; tasks carry the tenant (tenant-schemas-celery)."""

import environ

from config.settings.database import REDIS_URL

env = environ.Env()

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A task is acknowledged after it ran, so a worker crash re-delivers it; tasks
# are written to be safe to run twice.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=30 * 60)
CELERY_RESULT_EXPIRES = 24 * 60 * 60

# Riding out a broker outage (ADR 0015): the worker never gives up on Redis,
# at start-up or later, and retries forever with kombu's capped backoff.
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# Tasks running when the broker connection is lost keep running (their work needs
# PostgreSQL, not Redis) and are acknowledged after the reconnect; one that finishes
# while Redis is still down stays unacknowledged and is delivered again after the
# visibility timeout, which it survives (idempotent). Cancelling them instead (True,
# Celery 6's default) loses them when Redis is also the result backend: the cancel
# first stores a "retry" state, that store fails in the very outage, and the request
# is then handled as revoked and its message acknowledged. Reproduced with Celery and
# kombu 5.7.0; see the recovery ADR.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# Redis has no real acknowledgements: a delivered, unacknowledged message is
# re-queued when its visibility timeout passes. It must outlast the longest task
# (its time limit) or a task still running is delivered a second time.
BROKER_VISIBILITY_TIMEOUT = CELERY_TASK_TIME_LIMIT + 10 * 60
_REDIS_TRANSPORT_OPTIONS = {
    "visibility_timeout": BROKER_VISIBILITY_TIMEOUT,
    # Ping idle connections and drop half-open ones (a Redis restarted or failed over
    # under us) instead of waiting on them forever.
    "health_check_interval": 10,
    "socket_keepalive": True,
    "socket_connect_timeout": 5,
    # Synchronous commands (publish, ack) fail after this long on a dead connection,
    # so the health checks and the reconnect get their turn; above BRPOP's 1 s wait.
    "socket_timeout": 30,
    "retry_on_timeout": True,
}
CELERY_BROKER_TRANSPORT_OPTIONS = dict(_REDIS_TRANSPORT_OPTIONS)
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 5
CELERY_REDIS_SOCKET_KEEPALIVE = True
CELERY_REDIS_RETRY_ON_TIMEOUT = True
# Not result_backend_always_retry: the worker's main process stores some states itself
# (a task cancelled on connection loss is marked for retry there), and retrying that
# during an outage blocks the consumer's reconnect for minutes (measured: 2 min).

# Recovery sweeps (knowledge_base.leases, chat.recovery): work whose lease expired
# is resumed or recorded as stopped, whatever process died holding it.
CELERY_BEAT_SCHEDULE: dict = {
    "knowledge-base-recover-stalled-documents": {
        "task": "knowledge_base.documents_recover_stalled",
        "schedule": env.float("DOCUMENT_SWEEP_INTERVAL", default=60.0),
    },
    # Evaluation runs whose worker died or whose task was lost (docs/adr/0099).
    "knowledge-base-recover-stalled-evaluations": {
        "task": "knowledge_base.evaluation_runs_recover_stalled",
        "schedule": env.float("DOCUMENT_SWEEP_INTERVAL", default=60.0),
    },
    # Web pages and sitemaps whose refresh is due (or whose fetch's worker died).
    "knowledge-base-refresh-web-sources": {
        "task": "knowledge_base.web_sources_refresh_due",
        "schedule": env.float("WEB_SOURCES_SWEEP_INTERVAL", default=60.0),
    },
    "chat-recover-interrupted-answers": {
        "task": "chat.answers_recover_interrupted",
        "schedule": env.float("CHAT_SWEEP_INTERVAL", default=60.0),
    },
    "files-expire-attachments": {
        "task": "files.attachments_expire",
        "schedule": env.float("FILES_RETENTION_SWEEP_INTERVAL", default=3600.0),
    },
    "integrations-gmail-sync-due": {
        "task": "integrations.gmail_sync_due",
        "schedule": env.float("GMAIL_SYNC_SWEEP_INTERVAL", default=60.0),
    },
    "integrations-webhooks-retry-due": {
        "task": "integrations.webhooks_retry_due",
        "schedule": env.float("WEBHOOK_SWEEP_INTERVAL", default=15.0),
    },
}

"""Outbound webhooks (integrations/webhooks, docs/webhooks.md)."""

import environ

env = environ.Env()

# Seconds to wait after the 1st, 2nd... failed attempt: about a day in all (the last
# wait repeats if a delivery is given more attempts than entries).
WEBHOOK_RETRY_SCHEDULE = [
    int(s)
    for s in env.list(
        "WEBHOOK_RETRY_SCHEDULE",
        default=["5", "60", "300", "1800", "7200", "18000", "36000", "23400"],
    )
]
# One attempt's time limit (connect + answer).
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=15.0)
# An endpoint whose every attempt failed for this long, and this many times in a row,
# is disabled and the organization's admins are e-mailed.
WEBHOOK_DISABLE_AFTER_SECONDS = env.int("WEBHOOK_DISABLE_AFTER_SECONDS", default=24 * 3600)
WEBHOOK_DISABLE_AFTER_FAILURES = env.int("WEBHOOK_DISABLE_AFTER_FAILURES", default=10)
WEBHOOK_MAX_ENDPOINTS = env.int("WEBHOOK_MAX_ENDPOINTS", default=20)
# How often beat queues the deliveries whose next attempt is due.
WEBHOOK_SWEEP_INTERVAL = env.float("WEBHOOK_SWEEP_INTERVAL", default=15.0)

"""Error reporting (Sentry when SENTRY_DSN is set) and Prometheus metrics."""

import environ

env = environ.Env()

SENTRY_DSN = env("SENTRY_DSN", default="")
if SENTRY_DSN:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        environment=env("SENTRY_ENVIRONMENT", default="production"),
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
        # Never ship request bodies or user e-mails: they may hold customer data.
        send_default_pii=False,
    )

# Prometheus metrics on a port of their own (core/metrics.py): web and worker
# processes serve /metrics there when it is set; nothing is served when it is empty.
METRICS_PORT = env.int("METRICS_PORT", default=0) or None
METRICS_ADDRESS = env("METRICS_ADDRESS", default="0.0.0.0")  # noqa: S104 - a port of its own, for the scraper

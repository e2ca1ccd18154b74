"""Prometheus metrics, served on a port of their own (METRICS_PORT), never on the site.

What an operator watches: request latency by route, answers streaming (SSE), Celery
queue depth and task latency, AI provider latency and errors. A process serves them
when ``metrics_serve()`` is called: the web process from the ASGI lifespan
(config/asgi.py), the Celery worker when it is ready (``core/tasks.py`` connects the
signals). With several processes per container (uvicorn workers, Celery's prefork
children) set PROMETHEUS_MULTIPROC_DIR to an empty directory (the image does): every
process writes its samples there and whichever process holds the port serves the sum.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import time

from django.conf import settings
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily

logger = logging.getLogger(__name__)

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Samples are written there from the first metric on; a fresh /tmp (emptyDir) has
    # no such directory yet.
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

# Seconds: a chat request that streams holds its connection for the whole answer, so
# the top buckets are long.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

REQUEST_LATENCY = Histogram(
    "platform_http_request_duration_seconds",
    "Time to the response's headers, by route pattern (never raw paths: ids stay out).",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
STREAMS_OPEN = Gauge(
    "platform_sse_streams_open",
    "Answers streaming to clients now.",
    multiprocess_mode="livesum",
)
TASK_LATENCY = Histogram(
    "platform_celery_task_duration_seconds",
    "Celery task run time, by task and final state.",
    ["task", "state"],
    buckets=(*LATENCY_BUCKETS, 300, 900, 1800),
)
PROVIDER_LATENCY = Histogram(
    "platform_provider_request_duration_seconds",
    "AI provider calls: time to the first token (streams) or to the answer.",
    ["provider", "kind"],
    buckets=LATENCY_BUCKETS,
)
PROVIDER_ERRORS = Counter(
    "platform_provider_errors_total", "AI provider calls that failed.", ["provider", "code"]
)


class QueueDepthCollector:
    """Messages waiting in each Celery queue (Redis lists), read at scrape time; the
    ``ingestion`` queue's depth is the ingestion backlog."""

    def collect(self):
        family = GaugeMetricFamily(
            "platform_celery_queue_depth", "Messages waiting in a Celery queue.", labels=["queue"]
        )
        url = getattr(settings, "CELERY_BROKER_URL", "")
        if url.startswith("redis"):
            import redis

            client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
            try:
                for queue in _queues():
                    family.add_metric([queue], client.llen(queue))
            except redis.RedisError:
                logger.warning("queue depth: the broker did not answer")
            finally:
                client.close()
        yield family


def _queues() -> list[str]:
    names = {getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")}
    for route in (getattr(settings, "CELERY_TASK_ROUTES", None) or {}).values():
        if isinstance(route, dict) and route.get("queue"):
            names.add(route["queue"])
    return sorted(names)


def registry() -> CollectorRegistry:
    """The registry to expose: the sum over this container's processes in multiprocess
    mode, else this process's own."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        collected = CollectorRegistry()
        multiprocess.MultiProcessCollector(collected)
    else:
        collected = REGISTRY
    with contextlib.suppress(ValueError):  # already registered in this process
        collected.register(QueueDepthCollector())
    return collected


def metrics_serve(port: int | None = None) -> bool:
    """Serve /metrics on ``port`` (METRICS_PORT). Several processes of one container
    race for the port: one wins, the others return False (the winner serves all)."""
    port = port if port is not None else getattr(settings, "METRICS_PORT", None)
    if not port:
        return False
    try:
        start_http_server(int(port), addr=settings.METRICS_ADDRESS, registry=registry())
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            return False
        raise
    logger.info("metrics on :%s", port)
    return True


def process_exited() -> None:
    """Drop this process's live gauges (multiprocess mode) when it stops."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(os.getpid())


def _count_failure(provider: str, error: Exception) -> None:
    PROVIDER_ERRORS.labels(provider, getattr(error, "code", type(error).__name__)).inc()


@contextlib.contextmanager
def provider_call(provider: str, kind: str):
    """Time an AI provider call and count its failure (the gateway wraps each call)."""
    started = time.perf_counter()
    try:
        yield
    except Exception as error:
        _count_failure(provider, error)
        raise
    finally:
        PROVIDER_LATENCY.labels(provider, kind).observe(time.perf_counter() - started)


@contextlib.contextmanager
def provider_stream(provider: str):
    """Time a provider stream to its first event and count its failure; the caller
    calls the yielded function on every event (only the first one is observed)."""
    started = time.perf_counter()
    seen = False

    def first_event() -> None:
        nonlocal seen
        if not seen:
            seen = True
            PROVIDER_LATENCY.labels(provider, "stream_first_event").observe(
                time.perf_counter() - started
            )

    try:
        yield first_event
    except Exception as error:  # GeneratorExit (a consumer that stops early) is not one
        _count_failure(provider, error)
        raise


# -- Celery ---------------------------------------------------------------------

_task_started: dict[str, float] = {}


def _task_prerun(task_id=None, **_):
    _task_started[task_id] = time.perf_counter()


def _task_postrun(task_id=None, task=None, state=None, **_):
    started = _task_started.pop(task_id, None)
    if started is not None and task is not None:
        TASK_LATENCY.labels(task.name, state or "UNKNOWN").observe(time.perf_counter() - started)


def _worker_ready(**_):
    metrics_serve()


def _worker_process_shutdown(**_):
    process_exited()


def connect_celery_signals() -> None:
    from celery import signals

    signals.task_prerun.connect(_task_prerun, weak=False, dispatch_uid="metrics-prerun")
    signals.task_postrun.connect(_task_postrun, weak=False, dispatch_uid="metrics-postrun")
    signals.worker_ready.connect(_worker_ready, weak=False, dispatch_uid="metrics-ready")
    signals.worker_process_shutdown.connect(
        _worker_process_shutdown, weak=False, dispatch_uid="metrics-process-shutdown"
    )

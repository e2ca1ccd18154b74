"""/healthz (the process answers) and /readyz (its dependencies answer).

Handled in the first middleware so neither depends on the host name, the
tenant lookup or the database being up.
"""

import time

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse


def _timed(check) -> dict:
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:  # a readiness probe reports every failure, whatever it is
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _ping(url: str) -> None:
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    finally:
        client.close()


def _check_redis() -> None:
    _ping(settings.REDIS_URL)


def _check_broker() -> None:
    _ping(settings.CELERY_BROKER_URL)


def _separate_broker() -> bool:
    """The Celery broker is a Redis of its own (not REDIS_URL's server): check it too."""
    broker, cache = settings.CELERY_BROKER_URL, settings.REDIS_URL
    same_server = broker.rsplit("/", 1)[0] == cache.rsplit("/", 1)[0]
    return broker.startswith(("redis://", "rediss://")) and not same_server


def readiness() -> tuple[bool, dict]:
    checks = {"database": _timed(_check_database), "redis": _timed(_check_redis)}
    if _separate_broker():
        checks["broker"] = _timed(_check_broker)
    return all(c["ok"] for c in checks.values()), checks


class HealthCheckMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == "/healthz":
            return JsonResponse({"status": "ok"})
        if request.path == "/readyz":
            ok, checks = readiness()
            return JsonResponse(
                {"status": "ok" if ok else "unavailable", "checks": checks},
                status=200 if ok else 503,
            )
        return self.get_response(request)

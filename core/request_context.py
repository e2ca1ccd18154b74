"""Who and what a log line is about, and how long each request took.

``RequestContextMiddleware`` gives every request an id (the caller's ``X-Request-ID``
when it is a sane token, else a new one), returns it in the response's
``X-Request-ID`` header, keeps it with the organization and the user in context
variables (they follow the request into ``sync_to_async`` threads and tasks it
awaits), and observes the request's latency by route pattern. ``ContextFilter`` adds
them to every log record; ``JSONFormatter`` writes one JSON object per line
(LOG_FORMAT=json), for log pipelines.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.db import connection

from core import metrics

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
organization: contextvars.ContextVar[str] = contextvars.ContextVar("organization", default="")
user: contextvars.ContextVar[str] = contextvars.ContextVar("user", default="")

_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


def _incoming_id(request) -> str:
    given = request.headers.get("X-Request-ID", "")
    return given if _SANE_ID.match(given) else uuid.uuid4().hex


def _route(request) -> str:
    match = getattr(request, "resolver_match", None)
    return f"/{match.route}" if match is not None and match.route else "unmatched"


class _SyncAndAsync:
    """A middleware that runs in Django's sync and async chains alike."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)


class RequestContextMiddleware(_SyncAndAsync):
    """Placed first in MIDDLEWARE: it times everything after it."""

    def _begin(self, request):
        # Not reset at the end: Django logs the response (django.request) after the
        # middleware chain returned, and that line must carry the id too. The next
        # request of the thread (or ASGI's context per request) replaces it.
        request.request_id = _incoming_id(request)
        request_id.set(request.request_id)
        organization.set("")
        user.set("")
        return time.perf_counter()

    def _end(self, request, response, started):
        response["X-Request-ID"] = request.request_id
        metrics.REQUEST_LATENCY.labels(
            request.method, _route(request), response.status_code
        ).observe(time.perf_counter() - started)
        return response

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        started = self._begin(request)
        return self._end(request, self.get_response(request), started)

    async def __acall__(self, request):
        started = self._begin(request)
        return self._end(request, await self.get_response(request), started)


class IdentityMiddleware(_SyncAndAsync):
    """After authentication: the organization (schema) and the user of the request."""

    @staticmethod
    def _set(request, current) -> None:
        tenant = getattr(request, "tenant", None)
        organization.set(getattr(tenant, "schema_name", "") or connection.schema_name)
        api_key = getattr(request, "api_key", None)
        if api_key is not None:
            user.set(f"key:{api_key.prefix}")
        else:
            user.set(str(current.pk) if getattr(current, "is_authenticated", False) else "")

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        self._set(request, getattr(request, "user", None))
        return self.get_response(request)

    async def __acall__(self, request):
        current = await request.auser() if hasattr(request, "auser") else None
        self._set(request, current)
        return await self.get_response(request)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.organization = organization.get()
        record.user = user.get()
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request id, organization,
    user, and the exception when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", ""),
            "organization": getattr(record, "organization", ""),
            "user": getattr(record, "user", ""),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)

"""The request body limit, kept by the ASGI server's side of the application.

Django's ASGI handler reads a whole body (into memory, then a temporary file) before
any middleware sees the request, and Django's own checks trust the Content-Length
header. So without this layer a chunked upload (no Content-Length) of any size was
received and written to disk before the API refused it, and a body announced too
large was received in full only to be refused.

``RequestBodyLimit`` wraps the whole HTTP application (config/asgi.py):

* a Content-Length above the limit is answered 413 at once, nothing read;
* a body without Content-Length is counted as it arrives; past the limit the
  application is told the client left (Django drops the request, nothing acts on it)
  and the client gets the 413.

The limit is the API's (core/api/body_errors.py): ``API_MAX_UPLOAD_REQUEST_BYTES`` for
multipart bodies, ``DATA_UPLOAD_MAX_MEMORY_SIZE`` for everything else. The 413 is the
one error format (JSON) on every path.
"""

from __future__ import annotations

import json

from core.api.body_errors import body_limit, too_large_message
from core.api.errors import error_body


def _header(scope, wanted: bytes) -> str | None:
    for name, value in scope.get("headers") or ():
        if name == wanted:
            return value.decode("latin-1")
    return None


async def _refuse(send, limit: int) -> None:
    content = json.dumps(error_body("payload_too_large", too_large_message(limit))).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(content)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})


class RequestBodyLimit:
    """ASGI middleware: refuse bodies over the limit before the application reads them."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = body_limit(_header(scope, b"content-type") or "")
        length = _header(scope, b"content-length")
        if length is not None:
            # A malformed length is Django's to refuse (400, core/api/request_errors.py).
            if length.strip().isdigit() and int(length) > limit:
                return await _refuse(send, limit)
            return await self.app(scope, receive, send)
        await _Counted(self.app, limit)(scope, receive, send)


class _Counted:
    """One request without Content-Length: count its body; stop it past the limit."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit
        self.received = 0
        self.exceeded = False
        self.started = False

    async def __call__(self, scope, receive, send):
        async def counted_receive():
            if self.exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                self.received += len(message.get("body", b""))
                if self.received > self.limit:
                    self.exceeded = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            if self.exceeded:
                return  # the 413 below is the answer
            if message["type"] == "http.response.start":
                self.started = True
            await send(message)

        await self.app(scope, counted_receive, guarded_send)
        if self.exceeded and not self.started:
            await _refuse(send, self.limit)

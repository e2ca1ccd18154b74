"""A webhook receiver for the tests: a real HTTP server on a free local port that
verifies every delivery with the ``standardwebhooks`` library, as a customer would.

``responses`` is the list of status codes to answer with, in order (the last one
repeats); every request is recorded with whether its signature verified.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    headers: dict
    body: bytes
    verified: bool
    payload: dict | None
    error: str = ""


@dataclass
class Receiver:
    secret: str = ""
    responses: list[int] = field(default_factory=lambda: [200])
    received: list[Received] = field(default_factory=list)

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    payload = Webhook(receiver.secret).verify(body, headers)
                    record = Received(headers, body, True, payload)
                except WebhookVerificationError as exc:
                    record = Received(headers, body, False, None, str(exc))
                index = len(receiver.received)
                receiver.received.append(record)
                code = receiver.responses[min(index, len(receiver.responses) - 1)]
                answer = json.dumps({"received": index, "verified": record.verified}).encode()
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

"""A local HTTP server that workflow http_request steps call in tests (and in the fault
test, as its own process): it records every request it receives, answers with a queue
of statuses, may hold a request for a while, and applies ``Idempotency-Key`` like a
payment API would (a key seen before is answered from memory, not processed again).

Run as a program (``python -m workflows.tests.receiver PORT LOGFILE``) it appends one
JSON line per received request to LOGFILE, so another process can count them.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self, log_path: str | None = None, port: int = 0):
        self.received: list[dict] = []
        self.statuses: list[int] = []  # answered in order, then 200
        self.hold_seconds: dict[str, float] = {}  # path -> seconds to wait before answering
        self.processed: dict[str, dict] = {}  # idempotency key -> stored answer
        self.log_path = log_path
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                entry = {
                    "method": self.command,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body,
                    "at": time.time(),
                }
                with receiver._lock:
                    receiver.received.append(entry)
                    if receiver.log_path:
                        with open(receiver.log_path, "a") as log:
                            log.write(json.dumps(entry) + "\n")
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                time.sleep(receiver.hold_seconds.get(self.path, 0))
                key = entry["headers"].get("idempotency-key")
                with receiver._lock:
                    if key and key in receiver.processed and status < 500:
                        answer = receiver.processed[key]
                    else:
                        answer = {"ok": status < 400, "path": self.path, "echo": body[:200]}
                        if key and status < 500:
                            receiver.processed[key] = answer
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> Receiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def paths(self) -> list[str]:
        return [r["path"] for r in self.received]


if __name__ == "__main__":  # the fault test runs it as a process of its own
    receiver = Receiver(log_path=sys.argv[2], port=int(sys.argv[1]))
    for spec in sys.argv[3:]:  # "path=seconds": hold those requests
        path, seconds = spec.split("=")
        receiver.hold_seconds[path] = float(seconds)
    print("listening", receiver.port, flush=True)
    receiver.server.serve_forever()

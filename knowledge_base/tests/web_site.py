"""A web site for the tests of documents from URLs (and the browser test): a real HTTP
server on loopback, which the test settings allow-list for the outbound policy
(``OUTBOUND_ALLOWED_NETWORKS``; the development settings the browser platform runs
with do too)."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Site:
    """A real HTTP server on loopback (the test settings allow-list 127.0.0.0/8 for the
    outbound policy) serving ``pages``: path -> (status, headers, body). It answers a
    conditional request with 304 when the page's ETag matches, and records every
    request (path and headers) in ``requests``."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.times: list[tuple[str, float]] = []  # (path, time.monotonic()) per request
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.requests.append((self.path, dict(self.headers)))
                site.times.append((self.path, time.monotonic()))
                status, headers, body = site.pages.get(self.path, (404, {}, b"not found"))
                etag = headers.get("ETag")
                if status == 200 and etag and self.headers.get("If-None-Match") == etag:
                    status, body = 304, b""
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        # A port of an earlier test's site may come back: its robots.txt is not ours.
        from knowledge_base import web_politeness

        web_politeness.robots_forget(self.base)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def url(self, path: str) -> str:
        return self.base + path

    def page(self, path: str, html: str, *, etag: str | None = None, status: int = 200) -> str:
        headers = {"Content-Type": "text/html; charset=utf-8"}
        if etag:
            headers["ETag"] = etag
        self.pages[path] = (status, headers, html.encode())
        return self.url(path)

    def xml(self, path: str, body: str) -> str:
        self.pages[path] = (200, {"Content-Type": "application/xml"}, body.encode())
        return self.url(path)

    def robots(self, text: str) -> None:
        self.pages["/robots.txt"] = (200, {"Content-Type": "text/plain"}, text.encode())

    def gzip(self, path: str, body: bytes) -> str:
        import gzip

        self.pages[path] = (200, {"Content-Type": "application/x-gzip"}, gzip.compress(body))
        return self.url(path)

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

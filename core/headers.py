"""Security headers on every response: a strict Content-Security-Policy (a fresh nonce
per request for the few inline <style> blocks our templates have), Permissions-Policy
and Cross-Origin-Resource-Policy. Django's SecurityMiddleware and XFrameOptionsMiddleware
add Referrer-Policy, X-Content-Type-Options, Cross-Origin-Opener-Policy, HSTS and
X-Frame-Options (settings in config/settings/security.py). docs/security.md lists them.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

# No script runs unless it is a file of ours: no inline script, no eval, no CDN.
_BASE = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self' 'nonce-{nonce}'",
    "img-src": "'self' data:",
    "font-src": "'self' data:",
    # 'self' covers the same host's WebSocket (ws:/wss:) in CSP level 3 browsers.
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
    "frame-src": "'none'",
    "worker-src": "'self'",
    "manifest-src": "'self'",
}
# Swagger UI and ReDoc (pinned local copies from drf-spectacular-sidecar) inject <style>
# elements at run time and ReDoc starts a worker from a blob: URL; scripts stay strict.
_DOCS = {
    **_BASE,
    "style-src": "'self' 'unsafe-inline'",
    "worker-src": "'self' blob:",
}
DOCS_PATHS = ("/api/docs/", "/api/redoc/")

PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "usb",
        "interest-cohort",
        "browsing-topics",
    )
)


def content_security_policy(path: str, nonce: str) -> str:
    directives = _DOCS if path.startswith(DOCS_PATHS) else _BASE
    policy = "; ".join(f"{name} {value}" for name, value in directives.items())
    policy = policy.replace("{nonce}", nonce)
    if getattr(settings, "SECURE_SSL_REDIRECT", False):
        policy += "; upgrade-insecure-requests"
    return policy


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Templates put it on their inline <style> blocks: {{ request.csp_nonce }}.
        request.csp_nonce = nonce = secrets.token_urlsafe(18)
        response = self.get_response(request)
        response.headers.setdefault(
            "Content-Security-Policy", content_security_policy(request.path, nonce)
        )
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        # Organization hosts and the public site are one site (subdomains of BASE_DOMAIN).
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-site")
        return response

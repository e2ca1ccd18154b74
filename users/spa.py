"""Serving the dashboard (frontend/): the app shell for every app route, on both hosts.

The shell is Vite's ``index.html`` with the host's configuration injected (which
host this is, the organization it belongs to), so the app knows before its first
request whether it is the public site or an organization's dashboard. Assets come
from whitenoise (config/settings/frontend.py).
"""

import json
import re
from functools import lru_cache
from pathlib import Path

from allauth.headless.adapter import DefaultHeadlessAdapter
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, re_path
from django.views.decorators.csrf import ensure_csrf_cookie

from users import selectors

CONFIG_PLACEHOLDER = "<!--app-config-->"
# Paths that belong to the server: never answered with the app shell, so a typo under
# /api/ still gets the API's JSON 404.
SERVER_PREFIXES = (
    "api/",
    "admin/",
    "accounts/",
    "_allauth/",
    "static/",
    "media/",
    "assets/",
    "handoff/",
    "switch/",
    "ws/",
    "healthz",
    "readyz",
)


@lru_cache(maxsize=4)
def _read_shell(path: Path, mtime: float) -> str:
    # Keyed by modification time: a rebuild is picked up without a restart.
    return path.read_text(encoding="utf-8")


def _public_url() -> str:
    port = f":{settings.SITE_PORT}" if settings.SITE_PORT else ""
    return f"{settings.SITE_SCHEME}://{settings.BASE_DOMAIN}{port}"


def app_config(request: HttpRequest) -> dict:
    tenant = getattr(request, "tenant", None)
    is_public = tenant is None or tenant.is_public
    user = request.user
    authenticated = user.is_authenticated
    # Lets the app skip asking /api/v1/me when the answer is known to be 401 or 404, and
    # when it is a member, gives the answer itself (what GET /api/v1/me returns): the
    # page's own requests start at once instead of waiting for /me (no waterfall).
    memberships = (
        list(selectors.organization_list_for_user(user=user))
        if authenticated and not is_public
        else []
    )
    membership = next((m for m in memberships if m.organization_id == tenant.pk), None)
    member = membership is not None
    me = None
    if membership is not None:
        from users.api.serializers import MeOutputSerializer

        me = MeOutputSerializer(
            selectors.me_summary(
                user=user, organization=tenant, role=membership.role, organizations=memberships
            )
        ).data
    return {
        "host": "public" if is_public else "organization",
        "organization": None if is_public else {"slug": tenant.slug, "name": tenant.name},
        "baseDomain": settings.BASE_DOMAIN,
        "publicUrl": _public_url(),
        "csrfCookieName": settings.CSRF_COOKIE_NAME,
        "user": {"authenticated": authenticated, "member": member},
        "me": me,
        # The composer counts down to it and refuses before sending (no lost draft).
        "chatMaxMessageChars": settings.CHAT_MAX_MESSAGE_CHARS,
    }


@ensure_csrf_cookie  # the app sends it back as X-CSRFToken on every unsafe request
def app_shell(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    index = Path(settings.FRONTEND_DIST_DIR) / "index.html"
    try:
        shell = _read_shell(index, index.stat().st_mtime)
    except FileNotFoundError:
        return render(request, "spa_missing.html", status=503)
    # "<" escaped so no value can close the script element.
    data = json.dumps(app_config(request)).replace("<", "\\u003c")
    tag = f'<script id="app-config" type="application/json">{data}</script>'
    response = HttpResponse(shell.replace(CONFIG_PLACEHOLDER, tag, 1))
    # The shell names the current hashed assets: always revalidate it.
    response["Cache-Control"] = "no-cache"
    return response


def _to_app_page(name: str):
    def redirect_view(request: HttpRequest, **kwargs) -> HttpResponse:
        target = settings.HEADLESS_FRONTEND_URLS[name].format(**kwargs)
        return HttpResponseRedirect(target)

    return redirect_view


# allauth's server-rendered pages that the app has its own page for: sent there (the
# others are styled like the app: templates/allauth/layouts/base.html).
account_redirects = [
    path(
        "accounts/confirm-email/<str:key>/",
        _to_app_page("account_confirm_email"),
        name="account_confirm_email_app",
    ),
]

_excluded = "|".join(re.escape(prefix) for prefix in SERVER_PREFIXES)
# Last in both URL confs: everything the server does not route is an app route.
spa_urlpatterns = [re_path(rf"^(?!(?:{_excluded})).*$", app_shell, name="app")]


class HeadlessAdapter(DefaultHeadlessAdapter):
    """Only e-mails sent by the app's own (headless) requests link into the app: a
    password reset asked for on the server-rendered /accounts/ pages keeps its
    server-rendered link."""

    def get_frontend_url(self, urlname: str, **kwargs) -> str | None:
        request = self.request
        if request is None or not request.path.startswith("/_allauth/"):
            return None
        return super().get_frontend_url(urlname, **kwargs)

"""Security headers on every kind of page (issue 12, item 5): the dashboard shell, Swagger
UI and ReDoc (from pinned local files, no CDN), the Django admin, allauth's pages and the
API itself."""

import re

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def dashboard_shell(settings, tmp_path):
    """A built dashboard's index.html (the real one needs `make frontend`)."""
    (tmp_path / "index.html").write_text(
        '<!doctype html><html><head><!--app-config--></head><body><div id="root"></div>'
        '<script type="module" src="/assets/index.js"></script></body></html>'
    )
    settings.FRONTEND_DIST_DIR = str(tmp_path)


def directives(response) -> dict[str, str]:
    policy = response.headers.get("Content-Security-Policy", "")
    parts = (p.strip().split(None, 1) for p in policy.split(";") if p.strip())
    return {p[0]: (p[1] if len(p) > 1 else "") for p in parts}


def assert_secure_headers(response) -> dict[str, str]:
    csp = directives(response)
    assert csp, f"no Content-Security-Policy on {response.request['PATH_INFO']}"
    assert csp["default-src"] == "'self'"
    assert csp["script-src"] == "'self'"  # no inline script, no eval, no other origin
    assert csp["object-src"] == "'none'"
    assert csp["frame-ancestors"] == "'none'"
    assert csp["base-uri"] == "'self'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "camera=()" in response.headers["Permissions-Policy"]
    assert "geolocation=()" in response.headers["Permissions-Policy"]
    return csp


ORG_PAGES = ["/", "/assistants", "/admin/login/", "/accounts/login/", "/api/v1/me"]
PUBLIC_PAGES = ["/", "/signup", "/admin/login/", "/accounts/login/", "/accounts/signup/"]


@pytest.mark.parametrize("path", ORG_PAGES)
def test_organization_pages(org_a, client_for, path):
    response = client_for(org_a, "admin").get(path)
    assert response.status_code < 400
    assert_secure_headers(response)


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_public_pages(public_client, path):
    response = public_client.get(path)
    assert response.status_code < 400
    assert_secure_headers(response)


def test_inline_styles_carry_the_nonce_of_their_response(public_client, settings, tmp_path):
    settings.FRONTEND_DIST_DIR = str(tmp_path / "not-built")  # the page saying so has a <style>
    first = public_client.get("/")
    second = public_client.get("/")
    nonces = []
    for response in (first, second):
        nonce = re.search(r"'nonce-([^']+)'", directives(response)["style-src"]).group(1)
        assert f'<style nonce="{nonce}">' in response.content.decode()
        nonces.append(nonce)
    assert nonces[0] != nonces[1]


@pytest.mark.parametrize("host", ["org", "public"])
def test_swagger_ui_and_redoc_come_from_local_pinned_files(org_a, client_for, public_client, host):
    client = client_for(org_a, "admin") if host == "org" else public_client
    for path in ("/api/docs/", "/api/redoc/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_secure_headers(response)
        html = response.content.decode()
        assert "<script>" not in html  # every script is a file
        assert "cdn" not in html.lower() and "https://" not in html
        scripts = re.findall(r'<script src="([^"]+)"', html)
        assert scripts
        for src in scripts:
            if src.startswith("/static/"):
                assert finders.find(src.removeprefix("/static/")), src
            else:  # Swagger UI's start-up script, from the same view
                assert src.startswith(path) and "script" in src
                init = client.get(src)
                assert init.status_code == 200
                assert init["Content-Type"].startswith("application/javascript")


def test_deploy_check_is_clean_for_production_settings():
    """`manage.py check --deploy` with the production settings has nothing to say."""
    import subprocess
    import sys

    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings.prod",
        "SECRET_KEY": "x" * 30 + "-production-like-secret-0123456789abcdef",
        "ALLOWED_HOSTS": "example.com,.example.com",
        "BASE_DOMAIN": "example.com",
        "CREDENTIALS_ENCRYPTION_KEYS": "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg=",
        "PATH": "/usr/bin:/bin",
    }
    import os

    for name in ("DATABASE_URL", "REDIS_URL", "EMBEDDED_POSTGRES_PORT", "EMBEDDED_REDIS_PORT"):
        if name in os.environ:
            env[name] = os.environ[name]
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr

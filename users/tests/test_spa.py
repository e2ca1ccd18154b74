"""Serving the dashboard (users/spa.py): the app shell on both hosts, after the
server's own paths, with the host's configuration; a clear 503 when it is not built."""

import json
import re

import pytest
from django.test import Client, override_settings

SHELL = "<html><head><!--app-config--></head><body><div id=root></div></body></html>"


@pytest.fixture
def built(tmp_path, settings):
    (tmp_path / "index.html").write_text(SHELL)
    settings.FRONTEND_DIST_DIR = tmp_path
    return tmp_path


def app_config(response) -> dict:
    match = re.search(
        r'<script id="app-config" type="application/json">(.*?)</script>', response.content.decode()
    )
    assert match, response.content[:300]
    return json.loads(match.group(1))


@pytest.mark.django_db
class TestAppShell:
    @pytest.mark.parametrize("path", ["/", "/chat/123", "/knowledge", "/invitations/accept/"])
    def test_app_routes_get_the_shell_on_the_organization_host(self, built, org_a, path):
        response = Client(HTTP_HOST=org_a.host).get(path)

        assert response.status_code == 200
        assert response["Cache-Control"] == "no-cache"
        config = app_config(response)
        assert config["host"] == "organization"
        assert config["organization"] == {"slug": org_a.slug, "name": org_a.organization.name}
        assert config["user"] == {"authenticated": False, "member": False}
        assert "csrftoken" in response.cookies  # the app sends it back as X-CSRFToken

    def test_the_public_site_gets_the_shell_too(self, built):
        response = Client(HTTP_HOST="localhost").get("/signup")
        assert response.status_code == 200
        assert app_config(response)["host"] == "public"
        assert app_config(response)["organization"] is None

    def test_the_shell_says_whether_the_user_is_a_member_here(self, built, org_a, org_b):
        member, outsider = Client(HTTP_HOST=org_a.host), Client(HTTP_HOST=org_a.host)
        member.force_login(org_a.viewer)
        outsider.force_login(org_b.admin)

        assert app_config(member.get("/"))["user"] == {"authenticated": True, "member": True}
        assert app_config(outsider.get("/"))["user"] == {"authenticated": True, "member": False}

    def test_a_members_shell_carries_what_me_answers(self, built, org_a, org_b):
        # The app's pages start their requests without waiting for /api/v1/me.
        member, outsider = Client(HTTP_HOST=org_a.host), Client(HTTP_HOST=org_a.host)
        member.force_login(org_a.viewer)
        outsider.force_login(org_b.admin)

        injected = app_config(member.get("/"))["me"]
        assert injected == member.get("/api/v1/me").json()
        assert injected["role"] == "viewer" and injected["organization"]["slug"] == org_a.slug
        assert app_config(outsider.get("/"))["me"] is None
        assert app_config(Client(HTTP_HOST=org_a.host).get("/"))["me"] is None

    def test_injected_values_cannot_close_the_script_element(self, built, org_a):
        # A copy: the session's shared organization object keeps its name for other tests
        # (the database write is rolled back; an in-memory rename would not be).
        organization = type(org_a.organization).objects.get(pk=org_a.organization.pk)
        organization.name = "</script><script>alert(1)</script>"
        organization.save()
        html = Client(HTTP_HOST=org_a.host).get("/").content.decode()
        assert "</script><script>alert(1)" not in html
        assert app_config(Client(HTTP_HOST=org_a.host).get("/"))["organization"]["name"] == (
            "</script><script>alert(1)</script>"
        )

    @pytest.mark.parametrize(
        "path", ["/api/v1/nothing-here", "/accounts/nothing-here/", "/handoff/", "/_allauth/x"]
    )
    def test_server_paths_never_get_the_shell(self, built, org_a, path):
        response = Client(HTTP_HOST=org_a.host).get(path)
        assert response.status_code == 404
        assert b"app-config" not in response.content

    def test_unknown_api_paths_keep_the_json_error(self, built, org_a):
        response = Client(HTTP_HOST=org_a.host).get("/api/v1/nothing-here")
        assert response.json()["error"]["code"] == "not_found"

    def test_without_a_build_the_app_routes_say_how_to_build_it(self, tmp_path, org_a, settings):
        settings.FRONTEND_DIST_DIR = tmp_path / "missing"
        response = Client(HTTP_HOST=org_a.host).get("/assistants")
        assert response.status_code == 503
        assert "make frontend" in response.content.decode()

    def test_a_rebuild_is_served_without_a_restart(self, built, org_a):
        Client(HTTP_HOST=org_a.host).get("/")
        (built / "index.html").write_text(SHELL.replace("root", "rebuilt"))
        import os

        stat = (built / "index.html").stat()
        os.utime(built / "index.html", (stat.st_atime, stat.st_mtime + 5))
        assert b"rebuilt" in Client(HTTP_HOST=org_a.host).get("/").content


@pytest.mark.django_db
class TestHeadlessAuth:
    """allauth's headless API, which the app logs in with, on an organization's host."""

    def test_login_with_the_session_cookie_and_csrf(self, built, org_a):
        from tests.helpers import PASSWORD

        browser = Client(HTTP_HOST=org_a.host, enforce_csrf_checks=True)
        browser.get("/login")
        token = browser.cookies["csrftoken"].value

        response = browser.post(
            "/_allauth/browser/v1/auth/login",
            {"email": org_a.member.email, "password": PASSWORD},
            content_type="application/json",
            HTTP_X_CSRFTOKEN=token,
        )

        assert response.status_code == 200, response.content
        assert browser.get("/api/v1/me").json()["user"]["email"] == org_a.member.email

    def test_password_reset_asked_by_the_app_links_into_the_app(self, built, org_a, mailoutbox):
        response = Client(HTTP_HOST=org_a.host).post(
            "/_allauth/browser/v1/auth/password/request",
            {"email": org_a.member.email},
            content_type="application/json",
        )
        assert response.status_code == 200
        assert f"http://{org_a.host}/password/reset/key/" in mailoutbox[-1].body

    @override_settings(ACCOUNT_EMAIL_VERIFICATION="mandatory")
    def test_password_reset_asked_on_the_server_pages_keeps_its_link(self, org_a, mailoutbox):
        Client(HTTP_HOST=org_a.host).post(
            "/accounts/password/reset/", {"email": org_a.member.email}
        )
        assert f"http://{org_a.host}/accounts/password/reset/key/" in mailoutbox[-1].body

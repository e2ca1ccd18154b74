"""Host hand-off and organization switch (server-side redirects), sign-up through the API
to a logged-in organization host, the organization admin sites. The pages themselves are
the app (frontend/), whose serving is tested in config/tests/test_spa.py."""

import pytest
from django.test import Client, override_settings

from tests.helpers import PASSWORD, schema_exists
from users.models import Membership, Role


@pytest.mark.django_db
class TestSignupHandoff:
    @override_settings(ACCOUNT_EMAIL_VERIFICATION="optional")
    def test_signup_hands_the_user_over_to_the_organization_host_logged_in(self):
        # given: the app's sign-up form posts to the API on the public site
        response = Client(HTTP_HOST="localhost").post(
            "/api/v1/signup",
            {
                "email": "ops@vandelay.test",
                "password": PASSWORD,
                "organization_name": "Vandelay",
                "slug": "vandelay",
            },
            content_type="application/json",
        )
        assert response.status_code == 201
        redirect_url = response.json()["redirect_url"]
        assert redirect_url.startswith("http://vandelay.localhost/handoff/")
        assert schema_exists("vandelay")

        # when: the browser follows the hand-off link on the new host
        browser = Client(HTTP_HOST="vandelay.localhost")
        handoff = browser.get(redirect_url.removeprefix("http://vandelay.localhost"))

        # then: it is logged in there
        assert handoff.status_code == 302 and handoff["Location"] == "/"
        me = browser.get("/api/v1/me").json()
        assert me["organization"]["name"] == "Vandelay"
        assert me["user"]["email"] == "ops@vandelay.test"

    def test_a_handoff_link_works_once(self, org_a):
        from users import services

        url = services.login_handoff_url(user=org_a.member, organization=org_a.organization)
        path = url.split(org_a.host, 1)[1]
        assert Client(HTTP_HOST=org_a.host).get(path).status_code == 302
        assert Client(HTTP_HOST=org_a.host).get(path).status_code == 404


@pytest.mark.django_db
class TestOrganizationHost:
    def test_login_page_of_allauth_still_works_without_javascript(self, org_a):
        response = Client(HTTP_HOST=org_a.host).post(
            "/accounts/login/", {"login": org_a.member.email, "password": PASSWORD}
        )
        assert response.status_code == 302

    def test_member_of_another_organization_gets_404_from_the_api(self, org_a, org_b):
        browser = Client(HTTP_HOST=org_a.host)
        browser.force_login(org_b.admin)
        assert browser.get("/api/v1/me").status_code == 404

    def test_switch_to_another_organization_via_handoff(self, org_a, org_b):
        Membership.objects.create(
            user=org_a.viewer, organization=org_b.organization, role=Role.VIEWER
        )
        browser = Client(HTTP_HOST=org_a.host)
        browser.force_login(org_a.viewer)

        response = browser.get(f"/switch/{org_b.slug}/")

        assert response["Location"].startswith("http://beta.localhost/handoff/")

    def test_switch_to_an_organization_one_is_not_in_is_404(self, org_a, org_b):
        browser = Client(HTTP_HOST=org_a.host)
        browser.force_login(org_a.viewer)
        assert browser.get(f"/switch/{org_b.slug}/").status_code == 404

    def test_switch_needs_a_login(self, org_a):
        response = Client(HTTP_HOST=org_a.host).get(f"/switch/{org_a.slug}/")
        assert response.status_code == 302 and response["Location"] == "/login"

    def test_organization_admin_site_is_for_organization_admins_only(self, org_a):
        admin, member = Client(HTTP_HOST=org_a.host), Client(HTTP_HOST=org_a.host)
        admin.force_login(org_a.admin)
        member.force_login(org_a.member)

        page = admin.get("/admin/users/membership/")
        assert page.status_code == 200
        assert org_a.viewer.email in page.content.decode()
        assert member.get("/admin/users/membership/").status_code == 302  # to the admin login

    def test_organization_admin_site_shows_only_its_own_members(self, org_a, org_b):
        admin = Client(HTTP_HOST=org_a.host)
        admin.force_login(org_a.admin)
        assert org_b.viewer.email not in admin.get("/admin/users/membership/").content.decode()

    def test_platform_admin_is_on_the_public_host_for_staff(self, org_a, django_user_model):
        staff = django_user_model.objects.create_superuser(
            email="staff@platform.test", password=PASSWORD
        )
        browser = Client(HTTP_HOST="localhost")
        browser.force_login(staff)
        assert browser.get("/admin/users/organization/").status_code == 200
        outsider = Client(HTTP_HOST="localhost")
        outsider.force_login(org_a.admin)
        assert outsider.get("/admin/users/organization/").status_code == 302


@pytest.mark.django_db
class TestPublicSite:
    def test_after_logging_in_on_the_public_site_switch_goes_to_the_first_organization(self, org_a):
        browser = Client(HTTP_HOST="localhost")
        browser.force_login(org_a.member)

        response = browser.get("/switch/")

        assert response["Location"].startswith(f"http://{org_a.host}/handoff/")

    def test_switch_without_organizations_logs_out_back_to_the_login_page(self, django_user_model):
        lonely = django_user_model.objects.create_user(email="lonely@x.test", password=PASSWORD)
        browser = Client(HTTP_HOST="localhost")
        browser.force_login(lonely)

        response = browser.get("/switch/")

        # the app's log-in page explains; a session leading nowhere is not kept
        assert response.status_code == 302
        assert response["Location"] == "/login?error=no_organization"
        assert "_auth_user_id" not in browser.session

    def test_switch_to_an_organization_one_is_not_in_is_still_404(self, org_a):
        browser = Client(HTTP_HOST="localhost")
        browser.force_login(org_a.admin)
        assert browser.get("/switch/nosuchorg/").status_code == 404

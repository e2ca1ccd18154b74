"""The server-rendered pages: public sign-up, hand-off, home, invitation accept."""

import pytest
from django.test import Client, override_settings

from tests.helpers import PASSWORD, schema_exists
from users import services
from users.models import Membership, Organization, Role


@pytest.mark.django_db
class TestSignupPage:
    def test_form_errors_are_shown_next_to_fields(self):
        response = Client(HTTP_HOST="localhost").post("/signup/", {
            "email": "bad", "password": PASSWORD, "organization_name": "X", "slug": "www",
        })  # fmt: skip
        assert response.status_code == 200
        html = response.content.decode()
        assert "reserved" in html and "valid email" in html
        assert not Organization.objects.filter(name="X").exists()

    @override_settings(ACCOUNT_EMAIL_VERIFICATION="optional")
    def test_signup_sends_the_user_to_the_organization_host_logged_in(self):
        response = Client(HTTP_HOST="localhost").post("/signup/", {
            "email": "ops@vandelay.test", "password": PASSWORD, "organization_name": "Vandelay",
            "slug": "vandelay",
        })  # fmt: skip
        assert response.status_code == 302
        assert response["Location"].startswith("http://vandelay.localhost/handoff/")
        assert schema_exists("vandelay")

        browser = Client(HTTP_HOST="vandelay.localhost")
        home = browser.get(
            response["Location"].removeprefix("http://vandelay.localhost"), follow=True
        )
        assert "Vandelay" in home.content.decode()
        assert "ops@vandelay.test" in home.content.decode()

    def test_with_mandatory_verification_the_user_is_asked_to_confirm(self):
        response = Client(HTTP_HOST="localhost").post("/signup/", {
            "email": "x@kramerica.test", "password": PASSWORD, "organization_name": "Kramerica",
            "slug": "kramerica",
        })  # fmt: skip
        assert response.status_code == 200
        assert "Check your inbox" in response.content.decode()


@pytest.mark.django_db
class TestOrganizationHost:
    def test_home_requires_login(self, org_a):
        response = Client(HTTP_HOST=org_a.host).get("/")
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]

    def test_login_page_is_served_on_the_organization_host(self, org_a):
        response = Client(HTTP_HOST=org_a.host).post(
            "/accounts/login/", {"login": org_a.member.email, "password": PASSWORD}
        )
        assert response.status_code == 302

    def test_member_of_another_organization_gets_404_on_home(self, org_a, org_b):
        browser = Client(HTTP_HOST=org_a.host)
        browser.force_login(org_b.admin)
        assert browser.get("/").status_code == 404

    def test_switch_to_another_organization_via_handoff(self, org_a, org_b):
        Membership.objects.create(
            user=org_a.viewer, organization=org_b.organization, role=Role.VIEWER
        )
        browser = Client(HTTP_HOST=org_a.host)
        browser.force_login(org_a.viewer)

        response = browser.get(f"/switch/{org_b.slug}/")

        assert response["Location"].startswith("http://beta.localhost/handoff/")

    def test_invitation_accept_page_creates_the_account(self, org_a):
        _, token = services.invitation_create(
            organization=org_a.organization, email="page@invitee.test", role=Role.MEMBER,
            invited_by=org_a.admin,
        )  # fmt: skip
        browser = Client(HTTP_HOST=org_a.host)
        response = browser.post(f"/invitations/accept/?token={token}", {"password": PASSWORD})
        assert response.status_code == 302
        assert Membership.objects.filter(
            organization=org_a.organization, user__email="page@invitee.test"
        ).exists()

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

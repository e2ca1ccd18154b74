import pytest
from django.core import mail
from django.test import override_settings
from rest_framework.settings import api_settings

from tests.helpers import PASSWORD, assert_error, schema_exists
from users.models import Invitation, Membership, Organization, Role


@pytest.mark.django_db
class TestMe:
    def test_returns_user_role_and_organizations(self, org_a, client_for):
        body = client_for(org_a, "member").get("/api/v1/me").json()
        assert body["user"]["email"] == org_a.member.email
        assert body["role"] == "member"
        assert body["organization"]["slug"] == "alpha"
        assert [o["slug"] for o in body["organizations"]] == ["alpha"]

    def test_anonymous_gets_401_in_the_error_format(self, org_a, client_for):
        assert_error(client_for(org_a).get("/api/v1/me"), 401, "not_authenticated")

    def test_member_of_another_organization_gets_404(self, org_a, org_b, client_for):
        assert_error(client_for(org_a.host, org_b.admin).get("/api/v1/me"), 404, "not_found")

    def test_unknown_host_gets_404_json(self, org_a, client_for):
        assert_error(client_for("nosuchorg.localhost", org_a.admin).get("/api/v1/me"), 404)


@pytest.mark.django_db
class TestOrganization:
    @pytest.mark.parametrize("role", ["admin", "member", "viewer"])
    def test_every_role_reads(self, org_a, client_for, role):
        body = client_for(org_a, role).get("/api/v1/organization").json()
        assert body["slug"] == "alpha" and body["url"] == "http://alpha.localhost"

    def test_admin_renames(self, org_a, client_for):
        response = client_for(org_a, "admin").patch("/api/v1/organization", {"name": "Alpha 2"})
        assert response.status_code == 200
        assert Organization.objects.get(schema_name="alpha").name == "Alpha 2"

    @pytest.mark.parametrize("role", ["member", "viewer"])
    def test_others_cannot_rename(self, org_a, client_for, role):
        response = client_for(org_a, role).patch("/api/v1/organization", {"name": "Hijacked"})
        assert_error(response, 403, "permission_denied")
        assert Organization.objects.get(schema_name="alpha").name != "Hijacked"

    def test_blank_name_is_a_field_error(self, org_a, client_for):
        error = assert_error(
            client_for(org_a, "admin").patch("/api/v1/organization", {"name": ""}), 400, "invalid"
        )
        assert "name" in error["fields"]


@pytest.mark.django_db
class TestMembers:
    def test_list_is_paginated_and_scoped(self, org_a, client_for, django_assert_max_num_queries):
        client = client_for(org_a, "viewer")
        client.get("/api/v1/members?page_size=1")  # the plan's limits cached, as in use
        with django_assert_max_num_queries(8):
            body = client.get("/api/v1/members?page_size=2").json()
        assert body["count"] == 3
        assert len(body["results"]) == 2 and body["next"]
        emails = {m["user"]["email"] for m in body["results"]}
        emails |= {m["user"]["email"] for m in client.get(body["next"]).json()["results"]}
        assert emails == {org_a.admin.email, org_a.member.email, org_a.viewer.email}

    def _membership(self, org, user):
        return Membership.objects.get(organization=org.organization, user=user)

    def test_admin_changes_a_role(self, org_a, client_for):
        target = self._membership(org_a, org_a.viewer)
        response = client_for(org_a, "admin").patch(
            f"/api/v1/members/{target.id}", {"role": "member"}
        )
        assert response.status_code == 200 and response.json()["role"] == "member"

    def test_member_cannot_change_roles(self, org_a, client_for):
        target = self._membership(org_a, org_a.viewer)
        response = client_for(org_a, "member").patch(
            f"/api/v1/members/{target.id}", {"role": "admin"}
        )
        assert_error(response, 403)
        target.refresh_from_db()
        assert target.role == Role.VIEWER

    def test_unknown_role_is_a_field_error(self, org_a, client_for):
        target = self._membership(org_a, org_a.viewer)
        response = client_for(org_a, "admin").patch(
            f"/api/v1/members/{target.id}", {"role": "owner"}
        )
        assert "role" in assert_error(response, 400, "invalid")["fields"]

    def test_last_admin_cannot_be_demoted_or_removed(self, org_a, client_for):
        admin = self._membership(org_a, org_a.admin)
        client = client_for(org_a, "admin")
        assert_error(
            client.patch(f"/api/v1/members/{admin.id}", {"role": "viewer"}), 409, "last_admin"
        )
        assert_error(client.delete(f"/api/v1/members/{admin.id}"), 409, "last_admin")
        assert self._membership(org_a, org_a.admin).role == Role.ADMIN

    def test_admin_removes_a_member(self, org_a, client_for):
        target = self._membership(org_a, org_a.member)
        assert client_for(org_a, "admin").delete(f"/api/v1/members/{target.id}").status_code == 204
        assert not Membership.objects.filter(id=target.id).exists()

    def test_another_organizations_member_id_is_404(self, org_a, org_b, client_for):
        foreign = self._membership(org_b, org_b.viewer)
        client = client_for(org_a, "admin")
        assert_error(client.get(f"/api/v1/members/{foreign.id}"), 404)
        assert_error(client.delete(f"/api/v1/members/{foreign.id}"), 404)
        assert Membership.objects.filter(id=foreign.id).exists()

    def test_malformed_id_is_404_not_500(self, org_a, client_for):
        assert_error(client_for(org_a, "admin").get("/api/v1/members/not-a-uuid"), 404)


@pytest.mark.django_db
class TestInvitations:
    def test_admin_invites_and_the_invitee_accepts_without_an_account(
        self, org_a, client_for, django_capture_on_commit_callbacks
    ):
        # given
        with django_capture_on_commit_callbacks(execute=True):
            response = client_for(org_a, "admin").post(
                "/api/v1/invitations", {"email": "newbie@example.test", "role": "viewer"}
            )
        assert response.status_code == 201 and response.json()["status"] == "pending"
        token = mail.outbox[-1].body.split("token=")[1].split()[0]

        # when
        anonymous = client_for(org_a)
        accepted = anonymous.post(
            "/api/v1/invitations/accept", {"token": token, "password": PASSWORD}
        )

        # then: joined as viewer and logged in on this host
        assert accepted.status_code == 201, accepted.json()
        assert accepted.json()["role"] == "viewer"
        assert anonymous.get("/api/v1/me").json()["role"] == "viewer"

    @pytest.mark.parametrize("role", ["member", "viewer"])
    def test_only_admins_invite_or_list(self, org_a, client_for, role):
        client = client_for(org_a, role)
        assert_error(client.post("/api/v1/invitations", {"email": "x@y.test"}), 403)
        assert_error(client.get("/api/v1/invitations"), 403)
        assert not Invitation.objects.filter(email="x@y.test").exists()

    def test_invalid_email_is_a_field_error(self, org_a, client_for):
        response = client_for(org_a, "admin").post("/api/v1/invitations", {"email": "nope"})
        assert "email" in assert_error(response, 400, "invalid")["fields"]

    def test_admin_revokes_and_the_token_stops_working(self, org_a, client_for):
        admin = client_for(org_a, "admin")
        admin.post("/api/v1/invitations", {"email": "late@example.test"})
        invitation = Invitation.objects.get(email="late@example.test")

        response = admin.delete(f"/api/v1/invitations/{invitation.id}")

        assert response.status_code == 204 and not response.content
        invitation.refresh_from_db()
        assert invitation.status == "revoked"
        assert_error(admin.delete(f"/api/v1/invitations/{invitation.id}"), 400, "not_pending")

    def test_bad_token_is_404(self, org_a, client_for):
        response = client_for(org_a).post(
            "/api/v1/invitations/accept", {"token": "bogus", "password": PASSWORD}
        )
        assert_error(response, 404, "invalid_invitation")


@pytest.mark.django_db
class TestSignupAPI:
    def test_signup_creates_the_organization_and_points_to_its_host(self, public_client):
        response = public_client.post(
            "/api/v1/signup",
            {
                "email": "ceo@globex.test",
                "password": PASSWORD,
                "organization_name": "Globex",
                "slug": "globex",
            },
        )
        assert response.status_code == 201, response.json()
        body = response.json()
        assert body["organization"]["url"] == "http://globex.localhost"
        assert body["redirect_url"].startswith("http://globex.localhost/")
        assert schema_exists("globex")

    def test_reserved_slug_and_bad_email_are_field_errors(self, public_client):
        response = public_client.post(
            "/api/v1/signup",
            {
                "email": "not-an-email",
                "password": PASSWORD,
                "organization_name": "X",
                "slug": "admin",
            },
        )
        fields = assert_error(response, 400, "invalid")["fields"]
        assert set(fields) >= {"email", "slug"}
        assert not Organization.objects.filter(name="X").exists()

    def test_signup_is_not_served_on_organization_hosts(self, org_a, client_for):
        response = client_for(org_a).post("/api/v1/signup", {"email": "a@b.test"})
        assert_error(response, 404)

    @override_settings(ACCOUNT_EMAIL_VERIFICATION="optional")
    def test_without_mandatory_verification_the_redirect_logs_the_user_in(
        self, public_client, client_for
    ):
        body = public_client.post(
            "/api/v1/signup",
            {
                "email": "cto@hooli.test",
                "password": PASSWORD,
                "organization_name": "Hooli",
                "slug": "hooli",
            },
        ).json()
        path = body["redirect_url"].removeprefix("http://hooli.localhost")
        browser = client_for("hooli.localhost")
        assert browser.get(path).status_code == 302
        assert browser.get("/api/v1/me").json()["user"]["email"] == "cto@hooli.test"


@pytest.mark.django_db
def test_throttled_requests_get_429_with_retry_after_in_the_error_format(
    org_a, client_for, settings
):
    from django.core.cache import cache

    cache.clear()
    rates = {**api_settings.DEFAULT_THROTTLE_RATES, "user": "2/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    from rest_framework.throttling import SimpleRateThrottle

    original = SimpleRateThrottle.THROTTLE_RATES
    SimpleRateThrottle.THROTTLE_RATES = rates
    try:
        client = client_for(org_a, "viewer")
        statuses = [client.get("/api/v1/organization").status_code for _ in range(3)]
        assert statuses[:2] == [200, 200]
        response = client.get("/api/v1/organization")
        assert_error(response, 429, "throttled")
        assert int(response["Retry-After"]) > 0
    finally:
        SimpleRateThrottle.THROTTLE_RATES = original
        cache.clear()

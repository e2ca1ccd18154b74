from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models.signals import post_migrate
from django.utils import timezone
from django_tenants.utils import schema_context

from core import errors
from tests.helpers import PASSWORD, schema_exists
from users import services
from users.models import Domain, Invitation, Membership, Organization, Role, User


def _applied_migrations(schema: str) -> int:
    with schema_context(schema), connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{schema}".django_migrations')
        return cursor.fetchone()[0]


@pytest.mark.django_db
class TestSignup:
    def test_creates_user_organization_schema_and_admin_membership(self):
        # when
        result = services.signup(
            email="Founder@Initech.test",
            password=PASSWORD,
            organization_name="Initech",
            slug="initech",
        )

        # then
        org = Organization.objects.get(schema_name="initech")
        assert schema_exists("initech")
        assert _applied_migrations("initech") > 0
        assert Domain.objects.get(tenant=org).domain == "initech.localhost"
        assert result.user.email == "founder@initech.test"
        assert Membership.objects.get(user=result.user, organization=org).role == Role.ADMIN
        assert result.email_verification_required
        assert result.redirect_url.startswith("http://initech.localhost")
        assert len(mail.outbox) == 1 and "founder@initech.test" in mail.outbox[0].to

    def test_failure_during_schema_creation_leaves_nothing_behind(self, settings):
        # given: the tenant migrations blow up once they have run (organizations
        # migrated, not cloned; a failing clone: test_schema_template.py)
        settings.TENANT_SCHEMA_CLONING = False

        def explode(**kwargs):
            raise RuntimeError("disk full")

        post_migrate.connect(explode, dispatch_uid="explode")
        try:
            # when
            with pytest.raises(RuntimeError, match="disk full"):
                services.signup(
                    email="x@broken.test",
                    password=PASSWORD,
                    organization_name="Broken",
                    slug="broken",
                )
        finally:
            post_migrate.disconnect(dispatch_uid="explode")

        # then: no organization, no orphan schema, no user, no domain
        connection.set_schema_to_public()
        assert not Organization.objects.filter(schema_name="broken").exists()
        assert not schema_exists("broken")
        assert not User.objects.filter(email="x@broken.test").exists()
        assert not Domain.objects.filter(domain="broken.localhost").exists()

    @pytest.mark.parametrize(
        "slug",
        [
            "ab",
            "x" * 41,
            "Acme",
            "acme-co",
            "1acme",
            "acme_co",
            "www",
            "api",
            "admin",
            "public",
            "static",
            "pgsql",
        ],
    )
    def test_invalid_slug_is_refused_with_nothing_created(self, slug):
        organizations_before = Organization.objects.count()
        with pytest.raises(ValidationError):
            services.signup(email="a@b.test", password=PASSWORD, organization_name="X", slug=slug)
        assert not User.objects.filter(email="a@b.test").exists()
        assert Organization.objects.count() == organizations_before

    def test_taken_slug_is_a_field_error(self, org_a):
        with pytest.raises(ValidationError) as exc:
            services.signup(
                email="new@x.test", password=PASSWORD, organization_name="A", slug=org_a.slug
            )
        assert "slug" in exc.value.message_dict

    def test_existing_email_is_a_field_error(self, org_a):
        with pytest.raises(ValidationError) as exc:
            services.signup(
                email=org_a.admin.email.upper(),
                password=PASSWORD,
                organization_name="A",
                slug="another",
            )
        assert "email" in exc.value.message_dict
        assert not schema_exists("another")

    def test_weak_password_is_a_field_error(self):
        with pytest.raises(ValidationError) as exc:
            services.signup(
                email="w@x.test", password="password", organization_name="W", slug="weakling"
            )
        assert "password" in exc.value.message_dict


@pytest.mark.django_db
class TestMemberships:
    def test_last_admin_cannot_be_demoted_or_removed(self, org_a):
        # given: alpha has exactly one admin
        admin = Membership.objects.get(organization=org_a.organization, user=org_a.admin)

        with pytest.raises(services.LastAdminError):
            services.membership_change_role(membership=admin, role=Role.MEMBER)
        with pytest.raises(services.LastAdminError):
            services.membership_remove(membership=admin)
        admin.refresh_from_db()
        assert admin.role == Role.ADMIN

    def test_admin_can_be_demoted_once_another_admin_exists(self, org_a):
        member = Membership.objects.get(organization=org_a.organization, user=org_a.member)
        services.membership_change_role(membership=member, role=Role.ADMIN)
        admin = Membership.objects.get(organization=org_a.organization, user=org_a.admin)

        services.membership_change_role(membership=admin, role=Role.VIEWER)

        admin.refresh_from_db()
        assert admin.role == Role.VIEWER


@pytest.mark.django_db
class TestInvitations:
    def _invite(self, org, email="new@person.test", role=Role.MEMBER):
        return services.invitation_create(
            organization=org.organization, email=email, role=role, invited_by=org.admin
        )

    def test_invitation_emails_a_link_and_stores_only_a_hash(
        self, org_a, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            invitation, token = self._invite(org_a)

        assert token not in invitation.token_hash
        assert len(mail.outbox) == 1
        assert token in mail.outbox[0].body
        assert "http://alpha.localhost/invitations/accept/?token=" in mail.outbox[0].body

    def test_accept_by_new_person_creates_verified_account_and_membership(self, org_a):
        invitation, token = self._invite(org_a, role=Role.VIEWER)

        membership = services.invitation_accept(
            organization=org_a.organization, token=token, user=None, password=PASSWORD
        )

        assert membership.role == Role.VIEWER
        assert membership.user.email == "new@person.test"
        assert membership.user.emailaddress_set.get().verified
        invitation.refresh_from_db()
        assert invitation.status == "accepted"

    def test_accept_twice_is_refused(self, org_a):
        _, token = self._invite(org_a)
        services.invitation_accept(
            organization=org_a.organization, token=token, user=None, password=PASSWORD
        )
        with pytest.raises(errors.DomainError) as exc:
            services.invitation_accept(
                organization=org_a.organization, token=token, user=None, password=PASSWORD
            )
        assert exc.value.code == "invitation_accepted"

    def test_expired_invitation_is_refused(self, org_a):
        invitation, token = self._invite(org_a)
        Invitation.objects.filter(pk=invitation.pk).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
        with pytest.raises(errors.DomainError) as exc:
            services.invitation_accept(
                organization=org_a.organization, token=token, user=None, password=PASSWORD
            )
        assert exc.value.code == "invitation_expired"
        assert not User.objects.filter(email="new@person.test").exists()

    def test_revoked_invitation_is_refused(self, org_a):
        invitation, token = self._invite(org_a)
        services.invitation_revoke(invitation=invitation)
        with pytest.raises(errors.DomainError) as exc:
            services.invitation_accept(
                organization=org_a.organization, token=token, user=None, password=PASSWORD
            )
        assert exc.value.code == "invitation_revoked"

    def test_token_of_one_organization_does_not_work_in_another(self, org_a, org_b):
        _, token = self._invite(org_a)
        with pytest.raises(errors.DomainError) as exc:
            services.invitation_accept(
                organization=org_b.organization, token=token, user=None, password=PASSWORD
            )
        assert isinstance(exc.value, errors.NotFound)

    def test_existing_user_joins_a_second_organization(self, org_a, org_b):
        _, token = self._invite(org_a, email=org_b.member.email)

        services.invitation_accept(organization=org_a.organization, token=token, user=org_b.member)

        slugs = set(org_b.member.memberships.values_list("organization__schema_name", flat=True))
        assert slugs == {"alpha", "beta"}

    def test_wrong_account_cannot_accept(self, org_a, org_b):
        _, token = self._invite(org_a, email="someone@else.test")
        with pytest.raises(errors.DomainError) as exc:
            services.invitation_accept(
                organization=org_a.organization, token=token, user=org_b.member
            )
        assert exc.value.code == "email_mismatch"

    def test_a_new_invitation_replaces_the_pending_one(self, org_a):
        first, _ = self._invite(org_a)
        self._invite(org_a)
        first.refresh_from_db()
        assert first.status == "revoked"

    def test_inviting_a_member_is_a_conflict(self, org_a):
        with pytest.raises(errors.DomainError) as exc:
            self._invite(org_a, email=org_a.viewer.email)
        assert isinstance(exc.value, errors.Conflict)


@pytest.mark.django_db
class TestLoginHandoff:
    def test_link_logs_in_once_on_its_own_organization_only(self, org_a, org_b):
        url = services.login_handoff_url(user=org_a.admin, organization=org_a.organization)
        token = url.rstrip("/").rsplit("/", 1)[1]

        assert services.login_handoff_consume(token=token, organization=org_b.organization) is None
        assert (
            services.login_handoff_consume(token=token, organization=org_a.organization)
            == org_a.admin
        )
        assert services.login_handoff_consume(token=token, organization=org_a.organization) is None

    def test_tampered_link_is_refused(self, org_a):
        url = services.login_handoff_url(user=org_a.admin, organization=org_a.organization)
        token = url.rstrip("/").rsplit("/", 1)[1]
        assert (
            services.login_handoff_consume(token=token[:-2] + "xx", organization=org_a.organization)
            is None
        )

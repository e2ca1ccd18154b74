"""Writes: sign-up, organizations, memberships, invitations, login hand-off."""

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from audit.models import AuditAction
from audit.services import Actor, audit_record
from core import errors, schema_template, socket_groups
from users import selectors, signals
from users.models import Domain, Invitation, InvitationStatus, Membership, Organization, Role, User
from users.validators import validate_organization_slug

logger = logging.getLogger(__name__)

HANDOFF_SALT = "users.login-handoff"


class LastAdminError(errors.Conflict):
    code = "last_admin"
    message = "An organization needs at least one admin."


# -- organizations ------------------------------------------------------------


def organization_schema_migrate(*, organization: Organization) -> str:
    """Create the organization's schema: cloned from the migrated template schema
    when it is fresh (core.schema_template, ADR 0054), else by running the tenant
    migrations. Returns "cloned" or "migrated".

    Runs inside the caller's transaction: PostgreSQL DDL is transactional, so a
    failure here or later in the sign-up rolls the schema back with the row.
    """
    return schema_template.schema_create(
        organization.schema_name,
        migrate=lambda: organization.create_schema(check_if_exists=False, verbosity=0),
    )


@transaction.atomic
def organization_create(*, name: str, slug: str, owner: User | None = None) -> Organization:
    validate_organization_slug(slug)
    if connection.schema_name != settings.PUBLIC_SCHEMA_NAME:
        raise RuntimeError("Organizations are created from the public schema only.")
    if Organization.objects.filter(schema_name__iexact=slug).exists():
        raise ValidationError({"slug": ["This name is taken. Choose another."]})
    organization = Organization(name=name.strip(), schema_name=slug)
    organization.save()
    how = organization_schema_migrate(organization=organization)
    Domain.objects.create(tenant=organization, domain=organization.host, is_primary=True)
    if owner is not None:
        Membership.objects.create(user=owner, organization=organization, role=Role.ADMIN)
    logger.info("organization created: %s (schema %s)", slug, how)
    return organization


@transaction.atomic
def organization_update(
    *,
    organization: Organization,
    name: str | None = None,
    require_two_factor: bool | None = None,
    onboarding_dismissed: bool | None = None,
    actor=None,
) -> Organization:
    """Change the given settings; each change is audited with its before and after.
    Turning on ``require_two_factor`` needs an actor who has two-factor authentication
    (else they would lock themselves out of the page that turns it off)."""
    before = {
        "name": organization.name,
        "require_two_factor": organization.require_two_factor,
        "onboarding_dismissed": organization.onboarding_dismissed_at is not None,
    }
    if name is not None:
        organization.name = name.strip()
    if require_two_factor is not None:
        if require_two_factor and not organization.require_two_factor:
            user = getattr(actor, "user", None)
            if user is None or not user.has_two_factor():
                raise ValidationError(
                    {
                        "require_two_factor": [
                            "Set up two-factor authentication for your own account first."
                        ]
                    }
                )
        organization.require_two_factor = require_two_factor
    if onboarding_dismissed is not None and onboarding_dismissed != before["onboarding_dismissed"]:
        organization.onboarding_dismissed_at = timezone.now() if onboarding_dismissed else None
    organization.save(update_fields=["name", "require_two_factor", "onboarding_dismissed_at"])
    after = {
        "name": organization.name,
        "require_two_factor": organization.require_two_factor,
        "onboarding_dismissed": organization.onboarding_dismissed_at is not None,
    }
    changes = {key: [before[key], after[key]] for key in after if before[key] != after[key]}
    if changes:
        _audit(actor, AuditAction.ORGANIZATION_UPDATED, organization, changes)
    # An open chat socket meets the requirement at its next message: each message is
    # authorized afresh (chat.consumers), so nothing needs closing here.
    return organization


# -- sign-up ------------------------------------------------------------------


@dataclass(frozen=True)
class SignupResult:
    user: User
    organization: Organization
    redirect_url: str
    email_verification_required: bool


def user_create(*, email: str, password: str, name: str = "", verified: bool = False) -> User:
    email = email.strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": ["An account with this e-mail address already exists."]})
    user = User(email=email, name=name.strip())
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc
    user.set_password(password)
    user.save()
    EmailAddress.objects.create(user=user, email=email, primary=True, verified=verified)
    return user


def signup(
    *, email: str, password: str, organization_name: str, slug: str, name: str = "", request=None
) -> SignupResult:
    """Create the user and their organization (schema included), all or nothing."""
    with transaction.atomic():
        user = user_create(email=email, password=password, name=name)
        organization = organization_create(name=organization_name, slug=slug, owner=user)
        # Starter assistants and the like come from the layers above (assistants).
        signals.organization_signed_up.send(
            sender=Organization, organization=organization, owner=user
        )
    verification_required = settings.ACCOUNT_EMAIL_VERIFICATION == "mandatory"
    email_address = EmailAddress.objects.get(user=user, primary=True)
    email_address.send_confirmation(request, signup=True)
    if verification_required:
        redirect_url = f"{organization.url}/accounts/login/"
    else:
        redirect_url = login_handoff_url(user=user, organization=organization)
    return SignupResult(user, organization, redirect_url, verification_required)


# -- login hand-off between hosts ---------------------------------------------


def login_handoff_url(*, user: User, organization: Organization) -> str:
    """A single-use link that logs ``user`` in on the organization's own host."""
    token = signing.dumps(
        {"u": user.pk, "o": organization.pk, "n": secrets.token_urlsafe(12)}, salt=HANDOFF_SALT
    )
    return f"{organization.url}/handoff/{token}/"


def login_handoff_consume(*, token: str, organization: Organization) -> User | None:
    try:
        data = signing.loads(token, salt=HANDOFF_SALT, max_age=settings.LOGIN_HANDOFF_TTL_SECONDS)
    except signing.BadSignature:
        return None
    if data.get("o") != organization.pk:
        return None
    # cache.add is atomic in Redis: a second use of the same link finds the key.
    if not cache.add(f"handoff-used:{data['n']}", 1, settings.LOGIN_HANDOFF_TTL_SECONDS + 5):
        return None
    user = User.objects.filter(pk=data["u"], is_active=True).first()
    if user is None or not Membership.objects.filter(user=user, organization=organization).exists():
        return None
    return user


# -- memberships --------------------------------------------------------------


def _lock_admins(organization: Organization) -> list[Membership]:
    """Lock the admin rows so two concurrent demotions cannot leave zero admins."""
    return list(
        Membership.objects.select_for_update()
        .filter(organization=organization, role=Role.ADMIN)
        .order_by("id")
    )


@transaction.atomic
def membership_change_role(*, membership: Membership, role: str, actor=None) -> Membership:
    """``actor`` (audit.services.Actor): recorded in the organization's audit log."""
    admins = _lock_admins(membership.organization)
    membership.refresh_from_db(fields=["role"])
    if membership.role == Role.ADMIN and role != Role.ADMIN and len(admins) <= 1:
        raise LastAdminError("The last admin cannot be demoted. Promote someone else first.")
    before = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    if before != role:
        _audit(actor, AuditAction.MEMBER_ROLE_CHANGED, membership, {"role": [before, role]})
        # Open sockets were authorized with the old role: they reconnect with the new one.
        socket_groups.sockets_close(
            group=_member_group(membership),
            code=socket_groups.CLOSE_ACCESS_CHANGED,
            reason="Your role changed.",
        )
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor=None) -> None:
    admins = _lock_admins(membership.organization)
    membership.refresh_from_db(fields=["role"])
    if membership.role == Role.ADMIN and len(admins) <= 1:
        raise LastAdminError("The last admin cannot be removed. Promote someone else first.")
    _audit(actor, AuditAction.MEMBER_REMOVED, membership, {"role": [membership.role, None]})
    socket_groups.sockets_close(
        group=_member_group(membership),
        code=socket_groups.CLOSE_NOT_FOUND,
        reason="You are no longer a member of this organization.",
    )
    membership.delete()


def _member_group(membership: Membership) -> str:
    return socket_groups.member_group(
        organization_id=membership.organization_id, user_id=membership.user_id
    )


def sockets_close_for_login(*, session_key: str | None) -> None:
    """A login session ended (logout): its sockets close with it."""
    if session_key:
        socket_groups.sockets_close(
            group=socket_groups.login_session_group(session_key=session_key),
            code=socket_groups.CLOSE_UNAUTHENTICATED,
            reason="You logged out.",
        )


def sockets_close_for_user(*, user: User) -> None:
    """The person's password changed: every login session but the one that changed it
    has ended, and that one has a new key, so every socket of theirs closes."""
    socket_groups.sockets_close(
        group=socket_groups.user_group(user_id=user.pk),
        code=socket_groups.CLOSE_UNAUTHENTICATED,
        reason="Your password changed.",
    )


def _audit(actor, action, target: Membership | Organization, changes: dict) -> None:
    """Memberships and organizations live in the public schema; their audit rows in the
    organization's."""
    organization = target if isinstance(target, Organization) else target.organization
    with schema_context(organization.schema_name):
        audit_record(
            actor=actor,
            action=action,
            target=target,
            target_type="member" if isinstance(target, Membership) else "organization",
            changes=changes,
        )


# -- sign-ins and two-factor authentication -----------------------------------


@dataclass(frozen=True)
class _Attempted:
    """The target of a failed sign-in: the address typed, which may be nobody's."""

    pk: str

    def __str__(self) -> str:
        return self.pk


def sign_in_record(
    *,
    organization: Organization | None,
    user: User | None,
    email: str = "",
    succeeded: bool,
    ip_address: str | None = None,
    reason: str = "",
) -> None:
    """A sign-in on an organization's host, in its audit log (one on the main site
    belongs to no organization and is not recorded). A failure names the address typed,
    never the password."""
    if organization is None or organization.is_public:
        return
    if (
        user is not None
        and not Membership.objects.filter(organization=organization, user=user).exists()
    ):
        user_of_record = None
    else:
        user_of_record = user
    with schema_context(organization.schema_name):
        if succeeded:
            audit_record(
                actor=Actor(user=user_of_record, ip_address=ip_address),
                action=AuditAction.SIGN_IN_SUCCEEDED,
                target=user,
                target_type="user",
            )
        else:
            address = (email or getattr(user, "email", "") or "").strip().lower()[:254]
            audit_record(
                actor=Actor(ip_address=ip_address),
                action=AuditAction.SIGN_IN_FAILED,
                target=_Attempted(address or "unknown"),
                target_type="sign-in",
                changes={"reason": [None, reason or "wrong e-mail or password"]},
            )


def two_factor_change_record(*, user: User, enabled: bool, method: str, ip_address=None) -> None:
    """Two-factor authentication turned on or off, in the audit log of every
    organization the person belongs to (their admins see who is protected)."""
    action = AuditAction.TWO_FACTOR_ENABLED if enabled else AuditAction.TWO_FACTOR_DISABLED
    for membership in Membership.objects.filter(user=user).select_related("organization"):
        with schema_context(membership.organization.schema_name):
            audit_record(
                actor=Actor(user=user, ip_address=ip_address),
                action=action,
                target=user,
                target_type="user",
                changes={method: [not enabled, enabled]},
            )


# -- invitations --------------------------------------------------------------


def _audit_invitation(actor, action, invitation: Invitation, changes: dict) -> None:
    """Invitations live in the public schema; their audit rows in the organization's."""
    with schema_context(invitation.organization.schema_name):
        audit_record(
            actor=actor,
            action=action,
            target=invitation,
            target_type="invitation",
            changes=changes,
        )


def invitation_create(
    *,
    organization: Organization,
    email: str,
    role: str,
    invited_by: User,
    actor: Actor | None = None,
) -> tuple[Invitation, str]:
    """Invite ``email``; returns the invitation and its token (sent by e-mail only)."""
    email = email.strip().lower()
    if Membership.objects.filter(organization=organization, user__email__iexact=email).exists():
        raise errors.Conflict("This person is already a member.", code="already_member")
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        # One live invitation per address: a new one replaces the old.
        Invitation.objects.filter(
            organization=organization,
            email__iexact=email,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
        ).update(revoked_at=timezone.now())
        invitation = Invitation.objects.create(
            organization=organization,
            email=email,
            role=role,
            token_hash=selectors.invitation_token_hash(token),
            invited_by=invited_by,
            expires_at=timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS),
        )
        _audit_invitation(
            actor,
            AuditAction.INVITATION_SENT,
            invitation,
            {"email": [None, email], "role": [None, role]},
        )
        transaction.on_commit(lambda: _invitation_send(invitation=invitation, token=token))
    return invitation, token


def _invitation_send(*, invitation: Invitation, token: str) -> None:
    organization = invitation.organization
    link = f"{organization.url}/invitations/accept/?token={token}"
    inviter = invitation.invited_by.email if invitation.invited_by else "An admin"
    send_mail(
        subject=f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}Join {organization.name}",
        message=(
            f"{inviter} invited you to join {organization.name} as {invitation.role}.\n\n"
            f"Accept the invitation: {link}\n\n"
            f"The link expires on {invitation.expires_at:%Y-%m-%d %H:%M} UTC."
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[invitation.email],
    )


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor: Actor | None = None) -> Invitation:
    if invitation.status != InvitationStatus.PENDING:
        raise errors.DomainError(
            f"This invitation is already {invitation.status}.", code="not_pending"
        )
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    _audit_invitation(
        actor,
        AuditAction.INVITATION_REVOKED,
        invitation,
        {"status": [InvitationStatus.PENDING, InvitationStatus.REVOKED]},
    )
    return invitation


@transaction.atomic
def invitation_accept(
    *,
    organization: Organization,
    token: str,
    user: User | None,
    password: str | None = None,
    name: str = "",
    ip_address: str | None = None,
) -> Membership:
    """Join the organization. Anonymous callers create their account here.

    The token proves the address, so an account created here is verified.
    """
    try:
        invitation = Invitation.objects.select_for_update().get(
            organization=organization, token_hash=selectors.invitation_token_hash(token)
        )
    except Invitation.DoesNotExist:
        raise errors.NotFound(
            "This invitation link is not valid.", code="invalid_invitation"
        ) from None
    status = invitation.status
    if status != InvitationStatus.PENDING:
        raise errors.DomainError(f"This invitation is {status}.", code=f"invitation_{status}")
    if user is None:
        if User.objects.filter(email__iexact=invitation.email).exists():
            raise errors.NotAuthenticated(
                "An account with this e-mail exists: log in, then accept the invitation.",
                code="login_required",
            )
        if not password:
            raise ValidationError({"password": ["Choose a password for your new account."]})
        user = user_create(email=invitation.email, password=password, name=name, verified=True)
    elif user.email.lower() != invitation.email.lower():
        raise errors.PermissionDenied(
            "This invitation was sent to a different e-mail address.", code="email_mismatch"
        )
    membership, _ = Membership.objects.get_or_create(
        user=user, organization=organization, defaults={"role": invitation.role}
    )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    _audit_invitation(
        Actor(user=user, ip_address=ip_address),
        AuditAction.INVITATION_ACCEPTED,
        invitation,
        {"member": [None, user.email], "role": [None, membership.role]},
    )
    return membership

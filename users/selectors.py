"""Reads of organizations, memberships and invitations, always scoped.

Getters answer ``DoesNotExist`` alike for "missing" and "another
organization's", so callers map both to the same 404.
"""

import hashlib

from django.db.models import QuerySet

from core.lookups import parse_uuid
from users.models import Invitation, Membership, Organization, User


def organization_list_for_user(*, user: User) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(user=user)
        .exclude(organization__schema_name="public")
        .select_related("organization")
        .order_by("organization__name")
    )


def membership_list(*, organization: Organization) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(organization=organization)
        .select_related("user")
        .order_by("created_at", "id")
    )


def membership_get(*, organization: Organization, membership_id) -> Membership:
    return membership_list(organization=organization).get(id=parse_uuid(membership_id))


def invitation_list(*, organization: Organization) -> QuerySet[Invitation]:
    return Invitation.objects.filter(organization=organization).select_related("invited_by")


def invitation_get(*, organization: Organization, invitation_id) -> Invitation:
    return invitation_list(organization=organization).get(id=parse_uuid(invitation_id))


def invitation_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def members_without_two_factor_count(*, organization: Organization) -> int:
    """How many members have no authenticator app: whom "require two-factor" would stop
    until they set it up (the admins are told before turning it on)."""
    from allauth.mfa.models import Authenticator

    with_totp = Authenticator.objects.filter(type=Authenticator.Type.TOTP).values("user_id")
    return (
        Membership.objects.filter(organization=organization).exclude(user_id__in=with_totp).count()
    )


def me_summary(*, user: User, organization: Organization, role: str, organizations) -> dict:
    """What ``GET /api/v1/me`` answers (and the app shell carries): the person, this
    organization, their role here, their other organizations, and whether the
    organization requires a second factor they have not set up yet."""
    return {
        "user": user,
        "organization": organization,
        "role": role,
        "organizations": organizations,
        "two_factor_setup_required": organization.require_two_factor and not user.has_two_factor(),
    }

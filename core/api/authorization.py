"""One authorization path for every organization call, over HTTP or a WebSocket.

A call is made by a ``Caller`` (core.access): the organization it reaches, who makes it (a person
or an API key) and the membership that gives them access. ``caller_resolve`` finds
the membership, ``authorize`` checks it against what the action needs (a role for
people, a scope for keys) and ``throttle`` counts the call against the rate limits.

The base API views (``core.api.views``) call these once per request; the chat
socket (``chat.consumers``) calls the very same functions for every message it
receives, with the caller resolved afresh each time, so a socket learns about a
removed member, a changed role, a logout or a revoked key exactly as the next HTTP
request would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rest_framework import exceptions

from core.access import Caller, Role, Scope, ScopedKey, membership_model

# Declared for endpoints any valid key of the organization may call.
ANY_SCOPE = "*"


@dataclass(frozen=True)
class Requirement:
    """What one action needs: a role (people) or a scope (API keys)."""

    role: str
    scope: str
    api_keys_allowed: bool = True
    # Reachable by a person who still has to set up the two-factor authentication their
    # organization requires (``/me``, which tells the dashboard to send them there).
    two_factor_exempt: bool = False


TWO_FACTOR_REQUIRED = "two_factor_required"
TWO_FACTOR_MESSAGE = (
    "Your organization requires two-factor authentication: set it up on the Security "
    "page to continue."
)


def caller_resolve(*, organization, user, api_key: ScopedKey | None) -> Caller:
    """The caller with its membership of ``organization`` (None: not a member, or no
    organization). ``organization`` must already be known to be a tenant, not public."""
    membership = None
    if organization is not None and api_key is not None:
        # A key acts as a member of its own organization only.
        if api_key.organization_id == organization.pk:
            role = Role.ADMIN if Scope.ADMIN in api_key.scopes else Role.MEMBER
            membership = membership_model()(organization=organization, user=None, role=role)
    elif organization is not None and user is not None and user.is_authenticated:
        membership = (
            membership_model()
            .objects.select_related("organization")
            .filter(organization=organization, user=user)
            .first()
        )
    return Caller(
        organization=organization if membership else None,
        user=user,
        membership=membership,
        api_key=api_key,
    )


def authorize(*, caller: Caller, requirement: Requirement) -> None:
    """Raise DRF's NotAuthenticated (401), NotFound (404: not a member, exactly as for
    a missing object) or PermissionDenied (403; code ``two_factor_required`` for a
    person without the two-factor authentication their organization requires) unless
    ``caller`` may do the action."""
    if not caller.is_authenticated:
        raise exceptions.NotAuthenticated()
    membership = caller.membership
    if membership is None:
        raise exceptions.NotFound()
    api_key = caller.api_key
    if api_key is not None:
        if not requirement.api_keys_allowed:
            raise exceptions.PermissionDenied("This endpoint is for people, not API keys.")
        # For a key, its scopes are its permissions (in place of a role).
        scope = requirement.scope
        if scope != ANY_SCOPE and not api_key.has_scope(scope):
            raise exceptions.PermissionDenied(
                f"This API key lacks the scope this action needs: {scope}."
            )
        return
    if (
        not requirement.two_factor_exempt
        and getattr(caller.organization, "require_two_factor", False)
        and not caller.user.has_two_factor()
    ):
        # People only: a key was checked above. Sign-in itself stays possible (allauth),
        # so the person can reach the set-up.
        raise exceptions.PermissionDenied(TWO_FACTOR_MESSAGE, code=TWO_FACTOR_REQUIRED)
    if not membership.has_role(requirement.role):
        raise exceptions.PermissionDenied(
            f"Your role ({membership.role}) does not allow this action."
        )


@dataclass(frozen=True)
class ThrottledCall:
    """What the rate-limit classes read of a call, for a call that is no HTTP request
    (a socket message): the same attributes as DRF's Request, so the very same
    throttle classes count it against the very same counters."""

    user: Any
    auth: ScopedKey | None
    tenant: object
    META: dict
    method: str = "POST"

    @classmethod
    def of(cls, caller: Caller, *, client_address: str | None) -> ThrottledCall:
        return cls(
            user=caller.user,
            auth=caller.api_key,
            tenant=caller.organization,
            META={"REMOTE_ADDR": client_address or ""},
        )


def throttle(*, call, throttles: list, view=None) -> None:
    """Count ``call`` (a Request, or a ThrottledCall) against each throttle; raise
    Throttled with the longest wait when any refuses (DRF's own rule)."""
    together = [t for t in throttles if getattr(t, "counts_together", False)]
    if len(together) > 1:
        # Limits kept in one store are counted in one round trip (billing.throttling).
        together[0].count_together(call, together)
    waits = [t.wait() for t in throttles if not t.allow_request(call, view)]
    if waits:
        waits = [w for w in waits if w is not None]
        raise exceptions.Throttled(wait=max(waits, default=None))

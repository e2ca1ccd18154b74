"""Signal receivers: thin, each calls one service."""

from allauth.mfa.signals import authenticator_added
from django.db import transaction

from audit.services import client_ip
from users import services

# Authenticators that make a second factor (recovery codes come with them).
SECOND_FACTORS = {"totp": "authenticator app", "webauthn": "security key"}


def close_sockets_of_login(sender, request=None, user=None, **kwargs) -> None:
    session = getattr(request, "session", None)
    services.sockets_close_for_login(session_key=getattr(session, "session_key", None))


def close_sockets_after_password_change(sender, instance=None, created=False, **kwargs) -> None:
    """Any password change (allauth, the platform admin, ``manage.py changepassword``)
    closes the person's sockets once it is committed (User.save marks it)."""
    if not created and getattr(instance, "password_changed", False):
        transaction.on_commit(lambda: services.sockets_close_for_user(user=instance))


def _tenant(request):
    return getattr(request, "tenant", None) if request is not None else None


def record_sign_in(sender, request=None, user=None, **kwargs) -> None:
    services.sign_in_record(
        organization=_tenant(request),
        user=user,
        succeeded=True,
        ip_address=client_ip(request) if request is not None else None,
    )


def record_failed_sign_in(sender, credentials=None, request=None, **kwargs) -> None:
    credentials = credentials or {}
    services.sign_in_record(
        organization=_tenant(request),
        user=None,
        email=str(credentials.get("email") or credentials.get("username") or ""),
        succeeded=False,
        ip_address=client_ip(request) if request is not None else None,
    )


def record_failed_second_factor(sender, request=None, user=None, **kwargs) -> None:
    services.sign_in_record(
        organization=_tenant(request),
        user=user,
        succeeded=False,
        ip_address=client_ip(request) if request is not None else None,
        reason="wrong two-factor code",
    )


def record_second_factor(sender, request=None, user=None, authenticator=None, **kwargs) -> None:
    method = SECOND_FACTORS.get(getattr(authenticator, "type", ""))
    if method is None or user is None:
        return
    services.two_factor_change_record(
        user=user,
        enabled=kwargs["signal"] is authenticator_added,
        method=method,
        ip_address=client_ip(request) if request is not None else None,
    )

"""Signal receivers: thin, each calls one service."""

from django.db import transaction

from users import services


def close_sockets_of_login(sender, request=None, user=None, **kwargs) -> None:
    session = getattr(request, "session", None)
    services.sockets_close_for_login(session_key=getattr(session, "session_key", None))


def close_sockets_after_password_change(sender, instance=None, created=False, **kwargs) -> None:
    """Any password change (allauth, the platform admin, ``manage.py changepassword``)
    closes the person's sockets once it is committed (User.save marks it)."""
    if not created and getattr(instance, "password_changed", False):
        transaction.on_commit(lambda: services.sockets_close_for_user(user=instance))

"""Signal receivers: thin, each calls one service."""

from users import services


def close_sockets_of_login(sender, request=None, user=None, **kwargs) -> None:
    session = getattr(request, "session", None)
    services.sockets_close_for_login(session_key=getattr(session, "session_key", None))


def close_sockets_of_user(sender, request=None, user=None, **kwargs) -> None:
    if user is not None and user.pk is not None:
        services.sockets_close_for_user(user=user)

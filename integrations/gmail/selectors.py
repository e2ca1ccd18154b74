"""Reads: a member sees and uses only their own Gmail connection."""

from django.db.models import QuerySet

from core import errors
from integrations.models import GmailConnection


def gmail_connections(*, organization, user) -> QuerySet[GmailConnection]:
    return GmailConnection.objects.filter(organization=organization, user=user)


def gmail_connection_get(*, organization, user, connection_id) -> GmailConnection:
    """Missing, another member's and another organization's answer alike: not found."""
    connection = (
        gmail_connections(organization=organization, user=user).filter(pk=connection_id).first()
        if _is_uuid(connection_id)
        else None
    )
    if connection is None:
        raise errors.NotFound("No such Gmail connection.")
    return connection


def _is_uuid(value) -> bool:
    import uuid

    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True

"""Helpers for looking rows up by ids that come from requests."""

import uuid

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import models


def parse_uuid(value) -> uuid.UUID:
    """A UUID from a request, or ObjectDoesNotExist: a malformed id is simply not
    found (404), never a 500."""
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise ObjectDoesNotExist(f"Malformed id: {value!r}") from None


def user_reference(**kwargs) -> models.ForeignKey:
    """A nullable reference from an organization's schema to a user (public schema).

    No database constraint: deleting a user must not reach into every
    organization's schema; the id stays, pointing at nobody.
    """
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
        **kwargs,
    )


def person(user):
    """The user to record as an author: None for a program calling with an API key
    (its request user is not a person) and for anonymous callers."""
    return user if getattr(user, "pk", None) else None

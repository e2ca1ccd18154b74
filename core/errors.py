"""Domain errors: what went wrong, in the words of the domain, with no HTTP in sight.

Services, selectors and tasks raise these (or Django's ``ValidationError`` and
``ObjectDoesNotExist``); they never raise DRF exceptions. The API turns each into
a status code and the one error format in one place
(``core.api.errors.exception_handler``); a task reads ``message`` and ``code``;
the WebSocket consumer sends the same ``code`` and ``message`` as an event.

Every error has a stable machine ``code`` (a subclass's default, or given when
raised: e.g. ``Conflict("...", code="already_member")``), a human ``message`` and,
for invalid input, ``fields`` ({"field": ["message", ...]}).
"""

from __future__ import annotations


class DomainError(Exception):
    """The request cannot be carried out as asked (400 at the API)."""

    code = "invalid"
    message = "The request could not be processed."

    def __init__(self, message: str | None = None, *, code: str | None = None, fields=None):
        self.message = message or type(self).message
        self.code = code or type(self).code
        self.fields: dict[str, list[str]] = fields or {}
        super().__init__(self.message)


class ValidationFailed(DomainError):
    """Invalid input, field by field: ``ValidationFailed(fields={"name": ["..."]})``."""

    message = "Invalid input."

    def __init__(self, message: str | None = None, *, fields=None, code: str | None = None):
        super().__init__(message, code=code, fields=fields)


class NotAuthenticated(DomainError):
    code = "not_authenticated"
    message = "Log in first."


class PermissionDenied(DomainError):
    code = "permission_denied"
    message = "You may not do this."


class NotFound(DomainError):
    """Missing, or not visible to the caller: the two are never told apart."""

    code = "not_found"
    message = "Not found."


class Conflict(DomainError):
    """Conflicts with the current state (a duplicate, the last admin...)."""

    code = "conflict"
    message = "This conflicts with the current state."


class QuotaExceeded(DomainError):
    """A limit of the organization's plan is used up; ``quota`` names which."""

    code = "quota_exceeded"
    message = "Your organization has reached a limit of its plan."

    def __init__(self, message: str | None = None, *, quota: str = "", code: str | None = None):
        super().__init__(message, code=code)
        self.quota = quota


class PayloadTooLarge(DomainError):
    code = "payload_too_large"
    message = "This is larger than the limit."


class UnsupportedType(DomainError):
    code = "unsupported_media_type"
    message = "This type of content is not supported."


class RateLimited(DomainError):
    """Too much too fast; ``retry_after`` (seconds) says when trying again can work."""

    code = "rate_limited"
    message = "Too many requests. Retry later."

    def __init__(self, message: str | None = None, *, retry_after: float | None = None, code=None):
        super().__init__(message, code=code)
        self.retry_after = retry_after


class ServiceUnavailable(DomainError):
    """A service the platform depends on does not answer; retrying later can work."""

    code = "service_unavailable"
    message = "A service we depend on is unavailable. Retry later."


# -- AI providers ---------------------------------------------------------------
# The provider layer has its own exceptions (assistants/providers/errors.py), which
# know the SDKs; ``assistants.providers.errors.as_domain_error`` maps them to these.


class ProviderFailed(DomainError):
    """An AI provider failed or could not be reached."""

    code = "provider_error"
    message = "The AI provider failed."


class ProviderRejected(ProviderFailed):
    """The provider refused the request as configured (bad key, unsupported
    parameter): the organization must fix its settings, retrying will not help."""

    code = "provider_invalid_request"


class ProviderRateLimited(ProviderFailed, RateLimited):
    code = "provider_rate_limited"

    def __init__(self, message: str | None = None, *, retry_after=None, code=None):
        RateLimited.__init__(self, message, retry_after=retry_after, code=code)


class ProviderTimedOut(ProviderFailed):
    code = "provider_timeout"

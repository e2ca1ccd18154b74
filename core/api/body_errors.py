"""Django's errors about a request body, as the API's domain errors, and the body limits.

Apart from core/api/request_errors.py so that the exception handler (core/api/errors.py)
can use it without an import cycle.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent

from core import errors


def body_limit(content_type: str) -> int:
    if content_type.lower().startswith("multipart/"):
        return settings.API_MAX_UPLOAD_REQUEST_BYTES
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def too_large_message(limit: int) -> str:
    return f"The request body is larger than the limit of {limit:,} bytes."


def malformed_request_error(exc: BaseException | None) -> errors.DomainError | None:
    """Django's errors about a request body, as the API's 4xx (None for other errors)."""
    if isinstance(exc, RequestDataTooBig):
        return errors.PayloadTooLarge(too_large_message(settings.DATA_UPLOAD_MAX_MEMORY_SIZE))
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        return errors.DomainError("The request has too many fields or files.", code="parse_error")
    return None

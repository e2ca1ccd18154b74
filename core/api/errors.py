"""One error shape for every API failure:

    {"error": {"code": "not_found", "message": "...", "fields": {"name": ["..."]}}}

``exception_handler`` is the one place that turns errors into responses: the
domain errors of services and tasks (core/errors.py, mapped to a status here),
Django's ValidationError/ObjectDoesNotExist/PermissionDenied, and DRF's own
exceptions (validation, 401, 403, 404, 405, 415, 429). Django's own 404/500 on
/api/ paths go through ``api_error_response`` via core/error_pages.py.
"""

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

from core import errors
from core.api.body_errors import malformed_request_error
from core.dependencies import as_service_unavailable


class APIError(exceptions.APIException):
    """An error with a stable code raised by a view (API layer only: services and
    tasks raise core.errors.DomainError)."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"
    default_detail = "The request could not be processed."

    def __init__(self, message=None, *, code=None, fields=None, status_code=None):
        super().__init__(detail=message or self.default_detail, code=code or self.default_code)
        self.fields = fields or {}
        if status_code:
            self.status_code = status_code


class Conflict(APIError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


# The status of each domain error; looked up along the class's MRO, so a subclass
# without an entry answers like its parent.
DOMAIN_ERROR_STATUS: dict[type[errors.DomainError], int] = {
    errors.DomainError: status.HTTP_400_BAD_REQUEST,
    errors.ValidationFailed: status.HTTP_400_BAD_REQUEST,
    errors.NotAuthenticated: status.HTTP_401_UNAUTHORIZED,
    errors.PermissionDenied: status.HTTP_403_FORBIDDEN,
    errors.NotFound: status.HTTP_404_NOT_FOUND,
    errors.Conflict: status.HTTP_409_CONFLICT,
    errors.QuotaExceeded: status.HTTP_402_PAYMENT_REQUIRED,
    errors.PayloadTooLarge: status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    errors.UnsupportedType: status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    errors.RateLimited: status.HTTP_429_TOO_MANY_REQUESTS,
    errors.ServiceUnavailable: status.HTTP_503_SERVICE_UNAVAILABLE,
    # Provider failures: a configuration the organization must fix is its 400; the
    # provider's own trouble is a bad gateway (or its timeout), never our 500.
    errors.ProviderFailed: status.HTTP_502_BAD_GATEWAY,
    errors.ProviderRejected: status.HTTP_400_BAD_REQUEST,
    errors.ProviderRateLimited: status.HTTP_429_TOO_MANY_REQUESTS,
    errors.ProviderTimedOut: status.HTTP_504_GATEWAY_TIMEOUT,
}


def domain_error_status(error: errors.DomainError) -> int:
    return next(DOMAIN_ERROR_STATUS[c] for c in type(error).__mro__ if c in DOMAIN_ERROR_STATUS)


def _from_domain_error(error: errors.DomainError) -> exceptions.APIException:
    if isinstance(error, errors.ValidationFailed):
        return exceptions.ValidationError(error.fields or [error.message])
    api_error = APIError(
        error.message, code=error.code, fields=error.fields, status_code=domain_error_status(error)
    )
    retry_after = getattr(error, "retry_after", None)
    if retry_after:
        api_error.wait = retry_after  # Retry-After
    return api_error


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def flatten_fields(detail) -> dict:
    """DRF's nested ValidationError detail -> {"field": ["message", ...]}."""
    if isinstance(detail, dict):
        out = {}
        for key, value in detail.items():
            if isinstance(value, dict):
                for sub, messages in flatten_fields(value).items():
                    out[f"{key}.{sub}"] = messages
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                for index, item in enumerate(value):
                    for sub, messages in flatten_fields(item).items():
                        out[f"{key}[{index}].{sub}"] = messages
            else:
                out[key] = [str(m) for m in (value if isinstance(value, list) else [value])]
        return out
    return {
        "non_field_errors": [str(m) for m in (detail if isinstance(detail, list) else [detail])]
    }


def exception_handler(exc, context):
    # Malformed requests and outages (core/api/request_errors.py, core/dependencies.py):
    # a clear 4xx or 503 in this format, never a 500 or an HTML page.
    exc = malformed_request_error(exc) or as_service_unavailable(exc) or exc
    if isinstance(exc, errors.DomainError):
        exc = _from_domain_error(exc)
    elif isinstance(exc, Http404 | ObjectDoesNotExist):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoValidationError):
        # Services raise Django's ValidationError; callers see field errors.
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # unexpected: Django's 500 handler answers (and Sentry sees it)

    if isinstance(exc, exceptions.ValidationError):
        fields = flatten_fields(exc.detail)
        message = "Invalid input."
        if list(fields) == ["non_field_errors"]:
            message = fields["non_field_errors"][0]
        response.data = error_body("invalid", message, fields)
        return response

    code = exc.get_codes() if hasattr(exc, "get_codes") else "error"
    if not isinstance(code, str):
        code = "error"
    message = str(exc.detail) if hasattr(exc, "detail") else str(exc)
    if isinstance(exc, exceptions.Throttled):
        code = "throttled"
        message = "Too many requests. Retry later."
        if exc.wait is not None:
            message = f"Too many requests. Retry in {int(exc.wait + 0.999)} seconds."
    response.data = error_body(code, message, getattr(exc, "fields", None))
    wait = getattr(exc, "wait", None)
    if wait and response.status_code in (429, 503) and "Retry-After" not in response:
        response["Retry-After"] = str(int(wait + 0.999))
    return response


def api_error_response(status_code: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status_code)

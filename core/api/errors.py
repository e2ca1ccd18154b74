"""One error shape for every API failure:

    {"error": {"code": "not_found", "message": "...", "fields": {"name": ["..."]}}}

DRF's exceptions (validation, 401, 403, 404, 405, 415, 429) go through
``exception_handler``; Django's own 404/500 on /api/ paths go through
``api_error_response`` via the handlers in config/urls.py.
"""

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler


class APIError(exceptions.APIException):
    """A domain error with a stable code, raised by services and views."""

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
    if isinstance(exc, Http404 | ObjectDoesNotExist):
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
    if wait and response.status_code == 429 and "Retry-After" not in response:
        response["Retry-After"] = str(int(wait + 0.999))
    return response


def api_error_response(status_code: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status_code)

"""Malformed requests under /api/: always a 4xx in the one error format, never a 500 and
never an HTML page, with DEBUG on or off.

* Bodies larger than the limit are refused from their Content-Length before anything
  reads them (413 ``payload_too_large``): ``DATA_UPLOAD_MAX_MEMORY_SIZE`` for JSON and
  forms, ``API_MAX_UPLOAD_REQUEST_BYTES`` for multipart uploads. Django's own
  ``RequestDataTooBig`` (a body that grew past the limit while read) answers the same.
* A body the endpoint cannot read is refused before the endpoint acts
  (``read_request_body``, called by the base API views): a bad encoding, truncated or
  too deeply nested JSON (400 ``parse_error``; core/api/parsers.py), a content type no
  parser accepts (415 ``unsupported_media_type``), even for an endpoint that would
  otherwise ignore its body.
* Whatever still answers an /api/ path with an HTML error (Django's 400/404/500 pages,
  the DEBUG technical pages, an unknown host) is turned into the error format by
  ``APIErrorsMiddleware``; a dependency outage becomes 503 ``service_unavailable``.
"""

from __future__ import annotations

import sys

from django.core.signals import got_request_exception
from django.dispatch import receiver
from django.http import JsonResponse

from core.api.body_errors import body_limit, malformed_request_error, too_large_message
from core.api.errors import domain_error_status, error_body
from core.dependencies import as_service_unavailable

BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def is_api_path(path: str) -> bool:
    return path.startswith("/api/")


def read_request_body(request) -> None:
    """Parse the body now (DRF caches it), so a malformed one is refused before the
    view acts: an endpoint that ignores its body must not act on a broken request."""
    if request.method in BODY_METHODS:
        request.data  # noqa: B018 - parsing is the point


# -- Django-level answers under /api/ -----------------------------------------------------

_CODES = {
    400: ("bad_request", "The request could not be understood."),
    403: ("permission_denied", "You do not have permission to perform this action."),
    404: ("not_found", "Not found."),
    405: ("method_not_allowed", "Method not allowed."),
    413: ("payload_too_large", "The request body is too large."),
    500: ("server_error", "Something went wrong on our side."),
}


def api_error_for_status(status_code: int) -> JsonResponse:
    code, message = _CODES.get(status_code, ("error", "The request failed."))
    return JsonResponse(error_body(code, message), status=status_code)


def api_error_for_exception(exc: BaseException | None) -> JsonResponse | None:
    """The 503 of an outage, or the 4xx of a malformed body; None for anything else."""
    error = as_service_unavailable(exc) or malformed_request_error(exc)
    if error is None:
        return None
    response = JsonResponse(
        error_body(error.code, error.message), status=domain_error_status(error)
    )
    retry_after = getattr(error, "retry_after", None)
    if retry_after:
        response["Retry-After"] = str(int(retry_after + 0.999))
    return response


@receiver(got_request_exception, dispatch_uid="api-errors-remember-exception")
def _remember_exception(sender, request=None, **kwargs):
    # Django turns an unhandled exception into a 500 page before the middleware sees
    # it; the page then says what it was (an outage is 503, not 500).
    if request is not None:
        request._unhandled_exception = sys.exc_info()[1]


def _is_json(response) -> bool:
    return response.get("Content-Type", "").startswith("application/json")


class APIErrorsMiddleware:
    """Outermost but the health checks: sees every /api/ request and answer."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not is_api_path(request.path):
            return self.get_response(request)
        refused = self._refuse_body(request)
        if refused is not None:
            return refused
        response = self.get_response(request)
        if response.status_code >= 400 and not _is_json(response):
            exc = getattr(request, "_unhandled_exception", None)
            return api_error_for_exception(exc) or api_error_for_status(response.status_code)
        return response

    def _refuse_body(self, request):
        raw = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(raw)
        except ValueError:
            length = -1
        if length < 0:
            return JsonResponse(
                error_body("bad_request", "The Content-Length header is not a valid length."),
                status=400,
            )
        limit = body_limit(request.META.get("CONTENT_TYPE", ""))
        if length > limit:
            return JsonResponse(
                error_body("payload_too_large", too_large_message(limit)), status=413
            )
        return None

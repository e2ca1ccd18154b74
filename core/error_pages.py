"""Django-level error pages: JSON in the API's error format under /api/."""

import sys

from django.http import HttpResponse, HttpResponseNotFound
from django.views import defaults

from core.api.errors import api_error_response
from core.api.request_errors import api_error_for_exception, is_api_path
from core.dependencies import unavailable_dependency


def bad_request(request, exception=None):
    if is_api_path(request.path):
        return api_error_for_exception(exception) or api_error_response(
            400, "bad_request", "The request could not be understood."
        )
    return defaults.bad_request(request, exception)


def not_found(request, exception=None):
    if is_api_path(request.path):
        return api_error_response(404, "not_found", "Not found.")
    return defaults.page_not_found(request, exception)


def server_error(request):
    # Called while the exception is being handled: an outage is a 503, not a 500.
    exception = sys.exc_info()[1]
    if is_api_path(request.path):
        return api_error_for_exception(exception) or api_error_response(
            500, "server_error", "Something went wrong on our side."
        )
    if unavailable_dependency(exception):
        response = HttpResponse(
            "<h1>Service unavailable</h1><p>Please retry in a few seconds.</p>", status=503
        )
        response["Retry-After"] = "5"
        return response
    return defaults.server_error(request)


def unknown_host(request):
    """No organization has this host name: 404, in JSON under /api/."""
    if is_api_path(request.path):
        return api_error_response(404, "not_found", "Not found.")
    return HttpResponseNotFound("<h1>Not found</h1>")

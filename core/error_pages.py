"""Django-level error pages: JSON in the API's error format under /api/."""

from django.http import HttpResponseNotFound
from django.views import defaults

from core.api.errors import api_error_response


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return api_error_response(404, "not_found", "Not found.")
    return defaults.page_not_found(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        return api_error_response(500, "server_error", "Something went wrong on our side.")
    return defaults.server_error(request)


def unknown_host(request):
    """No organization has this host name: 404, in JSON under /api/."""
    if request.path.startswith("/api/"):
        return api_error_response(404, "not_found", "Not found.")
    return HttpResponseNotFound("<h1>Not found</h1>")

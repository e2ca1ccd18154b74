"""Every organization endpoint declares the API-key scope of each of its methods.

An endpoint added without one fails here (and, at run time, raises instead of
letting a key through).
"""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import URLPattern, URLResolver, get_resolver

from core.api.views import ANY_SCOPE, OrganizationAPIView, OrganizationViewMixin
from integrations.models import Scope

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _views(patterns=None, prefix=""):
    for pattern in patterns if patterns is not None else get_resolver("config.urls").url_patterns:
        if isinstance(pattern, URLResolver):
            yield from _views(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            view = getattr(pattern.callback, "view_class", None)
            if view is not None and issubclass(view, OrganizationViewMixin):
                yield prefix + str(pattern.pattern), view


ORGANIZATION_VIEWS = sorted(set(_views()), key=lambda item: item[0])


def test_the_walk_finds_the_api():
    paths = {path for path, _ in ORGANIZATION_VIEWS}
    assert {"api/v1/chat", "api/v1/api-keys", "api/v1/usage", "api/v1/audit-events"} <= paths


@pytest.mark.parametrize(
    ("path", "view"), ORGANIZATION_VIEWS, ids=[p for p, _ in ORGANIZATION_VIEWS]
)
def test_every_method_declares_its_scope(path, view):
    instance = view()
    for method in METHODS:
        if not hasattr(view, method.lower()) or not view.api_keys_allowed:
            continue
        scope = instance.required_scope(method)
        assert scope == ANY_SCOPE or scope in Scope.values, (path, method, scope)


def test_an_undeclared_endpoint_is_caught():
    class Forgotten(OrganizationAPIView):
        def get(self, request):  # pragma: no cover - never served
            raise AssertionError

    with pytest.raises(ImproperlyConfigured):
        Forgotten().required_scope("GET")

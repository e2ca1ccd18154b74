"""Issue 12 (Low): `/api/...` on the public host answered an HTML 404 (with DEBUG on,
Django's technical 404 page). Every /api/ answer is JSON in the error format, on every
host, DEBUG on or off, whatever the body."""

import pytest
from django.test import Client

from tests.helpers import assert_error


def _deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("host", ["localhost", "alpha.localhost", "no-such-organization.localhost"])
@pytest.mark.parametrize("path", ["/api/v1/no-such-endpoint", "/api/no-such-version/x", "/api/"])
def test_unknown_api_paths_are_json_404_on_every_host(debug, host, path, org_a, settings):
    settings.DEBUG = debug
    client = Client(HTTP_HOST=host)

    assert_error(client.get(path), 404, "not_found")
    assert_error(
        client.generic("POST", path, _deep(5000), content_type="application/json"),
        404,
        "not_found",
    )

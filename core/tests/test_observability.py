"""Operations: request ids, JSON log lines with their context, Prometheus metrics."""

import json
import logging
import socket
import urllib.request

import pytest

from core import metrics
from core.request_context import ContextFilter, JSONFormatter


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def json_lines():
    """Log records of the `platform.test` logger as the JSON handler writes them."""
    lines: list[dict] = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(json.loads(self.format(record)))

    handler = Collect()
    handler.setFormatter(JSONFormatter())
    handler.addFilter(ContextFilter())
    logging.getLogger().addHandler(handler)
    yield lines
    logging.getLogger().removeHandler(handler)


@pytest.mark.django_db
def test_every_answer_carries_a_request_id_and_keeps_a_sane_one_given(org_a, client_for):
    client = client_for(org_a, "admin")

    fresh = client.get("/api/v1/assistants")
    given = client.get("/api/v1/assistants", HTTP_X_REQUEST_ID="trace-1234abcd")
    hostile = client.get("/api/v1/assistants", HTTP_X_REQUEST_ID="<script>alert(1)</script>")

    assert len(fresh["X-Request-ID"]) == 32
    assert given["X-Request-ID"] == "trace-1234abcd"
    assert (
        hostile["X-Request-ID"] != "<script>alert(1)</script>"
        and len(hostile["X-Request-ID"]) == 32
    )


@pytest.mark.django_db
def test_log_lines_of_a_request_name_its_id_organization_and_user(org_a, client_for, json_lines):
    client = client_for(org_a, "admin")

    # An unknown assistant: the API logs nothing for a 404, so log through a real
    # failure path instead: a malformed body is refused (and logged by django.request).
    response = client.post(
        "/api/v1/assistants",
        data="{not json",
        content_type="application/json",
        HTTP_X_REQUEST_ID="trace-logline-1",
    )

    assert response.status_code == 400
    mine = [line for line in json_lines if line["request_id"] == "trace-logline-1"]
    assert mine, json_lines
    assert {line["organization"] for line in mine} == {org_a.slug}
    assert {line["user"] for line in mine} == {str(org_a.admin.pk)}
    assert all({"time", "level", "logger", "message"} <= set(line) for line in mine)


@pytest.mark.django_db
def test_metrics_port_serves_request_latency_by_route_and_queue_depth(org_a, client_for):
    client_for(org_a, "admin").get("/api/v1/assistants")
    port = free_port()

    assert metrics.metrics_serve(port) is True
    assert metrics.metrics_serve(port) is False  # a second process finds the port taken
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()

    assert (
        'platform_http_request_duration_seconds_count{method="GET",route="/api/v1/assistants",status="200"}'
        in body
    )
    assert "platform_celery_queue_depth{queue=" in body
    assert "platform_sse_streams_open" in body
    # Raw paths with ids never become labels.
    assert (
        'route="/api/v1/assistants/' not in body
        or "<" in body.split('route="/api/v1/assistants/')[1][:60]
    )

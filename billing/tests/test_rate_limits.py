"""Requests per minute per API key and per organization, and AI tokens per minute."""

import random
import threading
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.test import RequestFactory
from freezegun import freeze_time

from billing.plans import plan_for
from billing.throttling import APIKeyRateThrottle
from integrations.models import Scope
from tests.factories import api_key_for
from tests.helpers import assert_error, fresh

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock():
    """The clock stands still at the start of a window of its own (far from now, so no
    other test's counters share it) and moves only when a test ticks it: no sleeping,
    and a window never ends in the middle of a check."""
    window = settings.RATE_LIMIT_WINDOW_SECONDS
    start = (int(datetime.now(UTC).timestamp()) // window + random.randint(10**3, 10**6)) * window
    with freeze_time(datetime.fromtimestamp(start, UTC)) as frozen:
        yield frozen


def _until_refused(client, path, attempts=8):
    """Statuses of requests sent until the first 429 (or ``attempts``)."""
    statuses = []
    for _ in range(attempts):
        response = client.get(path)
        statuses.append(response.status_code)
        if response.status_code == 429:
            return statuses, response
    return statuses, None


def test_a_key_over_its_rate_gets_429_with_retry_after_then_recovers(
    org_a, client_for, use_plan, clock
):
    use_plan(key_requests_per_minute=3)
    client = client_for(org_a.host, api_key=api_key_for(org_a, Scope.ASSISTANTS_READ)[1])

    statuses, refused = _until_refused(client, "/api/v1/assistants")

    assert statuses == [200, 200, 200, 429]
    error = assert_error(refused, 429, "throttled")
    wait = int(refused["Retry-After"])
    assert 1 <= wait <= settings.RATE_LIMIT_WINDOW_SECONDS
    assert f"{wait} seconds" in error["message"]
    clock.tick(wait - 1)
    assert client.get("/api/v1/assistants").status_code == 429  # not yet
    clock.tick(1)
    assert client.get("/api/v1/assistants").status_code == 200


def test_each_key_has_its_own_allowance(org_a, client_for, use_plan, clock):
    use_plan(key_requests_per_minute=2)
    first = client_for(org_a.host, api_key=api_key_for(org_a, Scope.ASSISTANTS_READ)[1])
    second = client_for(org_a.host, api_key=api_key_for(org_a, Scope.ASSISTANTS_READ)[1])

    statuses, _ = _until_refused(first, "/api/v1/assistants")
    other = second.get("/api/v1/assistants")

    assert statuses == [200, 200, 429]
    assert other.status_code == 200


def test_the_organization_limit_counts_every_caller(org_a, client_for, use_plan, clock):
    use_plan(requests_per_minute=3)
    admin = client_for(org_a, "admin")
    program = client_for(org_a.host, api_key=api_key_for(org_a, Scope.ASSISTANTS_READ)[1])

    statuses = [c.get("/api/v1/assistants").status_code for c in (admin, program, admin, program)]

    assert statuses == [200, 200, 200, 429]


def test_a_burst_from_many_threads_gets_exactly_the_allowance(org_a, use_plan, clock):
    # The counter is atomic in Redis: 40 simultaneous requests, 5 allowed.
    use_plan(key_requests_per_minute=5)
    api_key, _ = api_key_for(org_a, Scope.ASSISTANTS_READ)
    api_key.organization = fresh(org_a)
    plan_for(api_key.organization)  # cached: the threads do not query the database
    request = RequestFactory().get("/api/v1/assistants")
    request.auth = api_key
    allowed = []
    start = threading.Barrier(40)

    def call():
        start.wait()
        allowed.append(APIKeyRateThrottle().allow_request(request, None))

    threads = [threading.Thread(target=call) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert allowed.count(True) == 5 and allowed.count(False) == 35


def _chat(client, assistant):
    return client.post(
        "/api/v1/chat", {"assistant": str(assistant.pk), "message": "Hello?", "stream": False}
    )


def test_ai_tokens_per_minute_refuse_before_calling_the_provider(
    org_a, client_for, use_plan, provider_server, openai_helper, clock
):
    use_plan(tokens_per_minute=1)
    client = client_for(org_a, "member")

    provider_server.reset()
    first = _chat(client, openai_helper)
    second = _chat(client, openai_helper)

    assert first.status_code == 200, first.content
    error = assert_error(second, 429, "rate_limited")
    assert "Your organization" in error["message"] and "tokens" in error["message"]
    assert int(second["Retry-After"]) == settings.RATE_LIMIT_WINDOW_SECONDS  # a whole window
    assert len(provider_server.requests) == 1  # the refused turn never reached the provider


def test_each_api_key_has_its_own_ai_tokens_per_minute(
    org_a, client_for, use_plan, provider_server, openai_helper, clock
):
    use_plan(key_tokens_per_minute=1)
    first_key = client_for(org_a.host, api_key=api_key_for(org_a, Scope.CHAT_WRITE)[1])
    second_key = client_for(org_a.host, api_key=api_key_for(org_a, Scope.CHAT_WRITE)[1])

    provider_server.reset()
    answered = _chat(first_key, openai_helper)
    refused = _chat(first_key, openai_helper)
    other_key = _chat(second_key, openai_helper)

    assert answered.status_code == 200, answered.content
    assert "This API key" in assert_error(refused, 429, "rate_limited")["message"]
    assert other_key.status_code == 200, other_key.content
    assert len(provider_server.requests) == 2

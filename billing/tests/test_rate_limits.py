"""Requests per minute per API key and per organization, and AI tokens per minute."""

import threading
import time

import pytest
from django.test import RequestFactory
from django_tenants.utils import schema_context

from assistants import services as assistant_services
from billing.plans import plan_for
from billing.tests.conftest import fresh
from billing.throttling import APIKeyRateThrottle
from chat.tests.conftest import make_assistant
from integrations.models import Scope
from tests.helpers import GOOD_KEY, api_key_for, assert_error

pytestmark = pytest.mark.django_db

WINDOW = 3  # seconds: the plans' per-minute figures apply per WINDOW here


@pytest.fixture(autouse=True)
def short_window(settings):
    settings.RATE_LIMIT_WINDOW_SECONDS = WINDOW


def _until_refused(client, path, attempts=8):
    """Statuses of requests sent until the first 429 (or ``attempts``)."""
    statuses = []
    for _ in range(attempts):
        response = client.get(path)
        statuses.append(response.status_code)
        if response.status_code == 429:
            return statuses, response
    return statuses, None


def _in_one_window(check, expected):
    """Counting restarts with each window: when a window ended in the middle of
    ``check`` (a few milliseconds, so rarely), run it again, in the next window."""
    for _attempt in range(3):
        result = check()
        if expected(result):
            return result
        time.sleep(0.3)
    return result


def _at_a_window_start():
    """Token windows are aligned on multiples of WINDOW: start right after one."""
    time.sleep(WINDOW - time.time() % WINDOW + 0.05)


def test_a_key_over_its_rate_gets_429_with_retry_after_then_recovers(org_a, client_for, use_plan):
    use_plan(key_requests_per_minute=3)

    def burst():
        _, key = api_key_for(org_a, Scope.ASSISTANTS_READ)
        client = client_for(org_a.host, api_key=key)
        return client, *_until_refused(client, "/api/v1/assistants")

    client, statuses, refused = _in_one_window(burst, lambda r: r[1] == [200, 200, 200, 429])

    assert statuses == [200, 200, 200, 429]
    error = assert_error(refused, 429, "throttled")
    wait = int(refused["Retry-After"])
    assert 1 <= wait <= WINDOW
    assert f"{wait} seconds" in error["message"]
    time.sleep(wait + 0.2)
    assert client.get("/api/v1/assistants").status_code == 200


def test_each_key_has_its_own_allowance(org_a, client_for, use_plan):
    use_plan(key_requests_per_minute=2)

    def two_keys():
        first = client_for(org_a.host, api_key=api_key_for(org_a, Scope.ASSISTANTS_READ)[1])
        second = client_for(org_a.host, api_key=api_key_for(org_a, Scope.ASSISTANTS_READ)[1])
        return _until_refused(first, "/api/v1/assistants")[0], second.get("/api/v1/assistants")

    statuses, other = _in_one_window(two_keys, lambda r: r[0] == [200, 200, 429])

    assert statuses == [200, 200, 429]
    assert other.status_code == 200


def test_the_organization_limit_counts_every_caller(org_a, client_for, use_plan):
    use_plan(requests_per_minute=3)

    def mixed():
        admin = client_for(org_a, "admin")
        program = client_for(org_a.host, api_key=api_key_for(org_a, Scope.ASSISTANTS_READ)[1])
        return [c.get("/api/v1/assistants").status_code for c in (admin, program, admin, program)]

    assert _in_one_window(mixed, lambda r: r == [200, 200, 200, 429]) == [200, 200, 200, 429]


def test_a_burst_from_many_threads_gets_exactly_the_allowance(org_a, use_plan):
    # The counter is atomic in Redis: 40 simultaneous requests, 5 allowed.
    use_plan(key_requests_per_minute=5)

    def burst():
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
        return allowed

    allowed = _in_one_window(burst, lambda r: r.count(True) == 5)

    assert allowed.count(True) == 5 and allowed.count(False) == 35


@pytest.fixture
def openai_helper(org_a, provider_server):
    with schema_context(org_a.slug):
        assistant_services.credential_create(
            provider="openai", api_key=GOOD_KEY, base_url=f"{provider_server.url}/v1"
        )
    return make_assistant(org_a, "openai/gpt-4o-mini", with_knowledge=False)


def _chat(client, assistant):
    return client.post(
        "/api/v1/chat", {"assistant": str(assistant.pk), "message": "Hello?", "stream": False}
    )


def test_ai_tokens_per_minute_refuse_before_calling_the_provider(
    org_a, client_for, use_plan, provider_server, openai_helper
):
    use_plan(tokens_per_minute=1)
    client = client_for(org_a, "member")

    _at_a_window_start()
    provider_server.reset()
    first = _chat(client, openai_helper)
    second = _chat(client, openai_helper)

    assert first.status_code == 200, first.content
    error = assert_error(second, 429, "rate_limited")
    assert "Your organization" in error["message"] and "tokens" in error["message"]
    assert 1 <= int(second["Retry-After"]) <= WINDOW
    assert len(provider_server.requests) == 1  # the refused turn never reached the provider


def test_each_api_key_has_its_own_ai_tokens_per_minute(
    org_a, client_for, use_plan, provider_server, openai_helper
):
    use_plan(key_tokens_per_minute=1)
    first_key = client_for(org_a.host, api_key=api_key_for(org_a, Scope.CHAT_WRITE)[1])
    second_key = client_for(org_a.host, api_key=api_key_for(org_a, Scope.CHAT_WRITE)[1])

    _at_a_window_start()
    provider_server.reset()
    answered = _chat(first_key, openai_helper)
    refused = _chat(first_key, openai_helper)
    other_key = _chat(second_key, openai_helper)

    assert answered.status_code == 200, answered.content
    assert "This API key" in assert_error(refused, 429, "rate_limited")["message"]
    assert other_key.status_code == 200, other_key.content
    assert len(provider_server.requests) == 2

"""A provider's long Retry-After reaches the user at once, not after capped waits.

Issue 21: a 429 with ``Retry-After: 600`` made the user wait 40 s (two capped 20 s
waits) for a certain failure. The real OpenAI SDK talks to the local wire-level server.
"""

import pytest

from assistants.tests.providers.fake_server import error
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db


def test_a_retry_after_beyond_the_cap_answers_429_at_once(
    org_a, client_for, openai_assistant, provider_server, settings
):
    settings.AI_MAX_RETRIES = 2  # as in production: up to three attempts
    provider_server.enqueue(*[error(429, retry_after="600")] * 3)

    response = client_for(org_a, "member").post(
        "/api/v1/chat",
        {"assistant": str(openai_assistant.id), "message": "Refunds?", "stream": False},
        format="json",
    )

    assert_error(response, 429, "provider_rate_limited")
    assert response["Retry-After"] == "600"  # the provider's, passed on
    assert len(provider_server.requests) == 1  # asked once: no waiting, no retry

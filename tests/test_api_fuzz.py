"""Property-based fuzzing of the organization API with schemathesis.

Generated requests (bounded number of examples per operation) are sent as
organization alpha's admin through the real WSGI stack and database, once with
the admin's session and once with an API key holding every scope. Every answer
must be non-5xx and conform to the schema (status code documented, body
matching the documented shape).
"""

import os

import pytest
import schemathesis
import werkzeug
from django.core.wsgi import get_wsgi_application
from django.middleware.csrf import _get_new_csrf_string
from hypothesis import HealthCheck, Phase, settings
from schemathesis import checks

from integrations.models import Scope
from tests.factories import api_key_for
from tests.openapi import tenant_schema

schema = schemathesis.openapi.from_dict(tenant_schema())
schema.app = get_wsgi_application()


@pytest.fixture
def admin_session(org_a, client, keep_test_transaction):
    """A WSGI client holding alpha's admin's real session and CSRF cookies."""
    client.force_login(org_a.admin)
    csrf = _get_new_csrf_string()
    browser = werkzeug.Client(schema.app)
    browser.set_cookie("sessionid", client.cookies["sessionid"].value, domain=org_a.host)
    browser.set_cookie("csrftoken", csrf, domain=org_a.host)
    return {
        "session": browser,
        "base_url": f"http://{org_a.host}",
        "headers": {"X-CSRFToken": csrf},
    }


# Examples per operation: bounded so that `make test` stays within its time; raise them
# for a deeper run (`FUZZ_EXAMPLES=100 pytest tests/test_api_fuzz.py`). derandomize=True
# keeps every run on the same cases.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))

# Every other check runs (schemathesis `--checks all`), negative data included: a
# request that breaks the schema must be refused (4xx), never accepted.
EXCLUDED_CHECKS = [
    # Business rules the schema cannot state refuse some schema-valid input with a
    # documented 400: ids in a body that name nothing (`"assistants": [<random uuid>]`),
    # cross-field rules (chunk_overlap below half of chunk_size, parent_size above it with
    # parent_child chunking, an API key required
    # for that provider), password strength. Schemathesis cannot know them.
    checks.positive_data_acceptance,
]
# Auth is sent by the session client's cookie jar, which ignored_auth cannot remove;
# the API-key test below runs it (its credentials are a header).
SESSION_EXCLUDED_CHECKS = [*EXCLUDED_CHECKS, checks.ignored_auth]


def _without_generated_credentials(case) -> None:
    """The schema documents the session cookie and Bearer keys, so schemathesis
    generates random ones; drop them so the test's real credentials are sent."""
    case.cookies = {}
    case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}


@pytest.fixture
def api_key_client(org_a, keep_test_transaction):
    """A WSGI client calling with an API key of alpha that has every scope."""
    _, key = api_key_for(org_a, *Scope.values, name="fuzz")
    return {
        "session": werkzeug.Client(schema.app),
        "base_url": f"http://{org_a.host}",
        "headers": {"Authorization": f"Bearer {key}"},
    }


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_conforms_to_its_schema(case, admin_session):
    _without_generated_credentials(case)
    response = case.call_and_validate(**admin_session, excluded_checks=SESSION_EXCLUDED_CHECKS)
    # Authenticated as an admin, nothing may be refused for lack of credentials.
    assert response.status_code not in (401, 403), response.text


# Endpoints about a person, which refuse API keys: /me, joining an organization, a
# person's bookmarks and reactions (docs/conversations.md), and a member's own Gmail
# (docs/gmail.md).
PEOPLE_ONLY = (
    "/api/v1/me",
    "/api/v1/invitations/accept",
    "/api/v1/conversations/messages/{message_id}/bookmark",
    "/api/v1/conversations/messages/{message_id}/reactions",
    "/api/v1/conversations/messages/{message_id}/reactions/{reaction_id}",
    "/api/v1/gmail/connect",
    "/api/v1/gmail/connections",
    "/api/v1/gmail/connections/{connection_id}",
    "/api/v1/gmail/connections/{connection_id}/labels",
    "/api/v1/gmail/connections/{connection_id}/sync",
    "/api/v1/gmail/connections/{connection_id}/drafts",
)


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=max(EXAMPLES // 2, 1),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    # Generated cases only: schemathesis's explicit (coverage) cases, the boundary values
    # of every field, test the validation, which is the same whatever the credential; the
    # session test above sends them all. This one proves that a key reaches every
    # operation and is never refused or ignored.
    phases=[Phase.generate],
)
def test_api_conforms_to_its_schema_with_an_api_key(case, api_key_client):
    _without_generated_credentials(case)
    response = case.call_and_validate(**api_key_client, excluded_checks=EXCLUDED_CHECKS)
    # Every scope: only endpoints about a person (/me, joining an organization) refuse a key.
    if case.path not in PEOPLE_ONLY:
        assert response.status_code not in (401, 403), response.text
    elif response.request.method != "OPTIONS":  # OPTIONS: DRF's metadata, no data
        # Refused: 403 for the key, or earlier for the request itself (405 for the
        # unsupported-method probe, 415 for a body of the wrong type).
        assert response.status_code in (403, 405, 415), response.text

"""Every list endpoint answers in a bounded number of queries with several rows of
each kind (an N+1 adds a query per row and fails here). Generated from the OpenAPI
schema like the isolation suite: a new list endpoint fails until its bound is set."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import seed_every_kind
from tests.helpers import rolled_back_at_the_end
from tests.openapi import fill_path, harvest_ids, list_paths

ROWS = 3
# Queries of one page of each list, as the organization's admin (session, membership,
# count, rows, prefetches), measured with ROWS of each kind.
MAX_QUERIES = {
    "/api/v1/api-keys": 8,
    "/api/v1/assistants": 9,
    "/api/v1/audit-events": 8,
    "/api/v1/chat/sessions": 8,
    # thumbs-down answers with their question, conversation, assistant and asker: one join
    "/api/v1/feedback": 8,
    "/api/v1/chat/sessions/{session_id}/messages": 10,  # + one prefetch of attachments
    "/api/v1/collections": 8,
    "/api/v1/collections/{collection_id}/documents": 9,
    "/api/v1/collections/{collection_id}/documents/{document_id}/chunks": 10,
    "/api/v1/collections/{collection_id}/sitemaps": 9,
    "/api/v1/collections/{collection_id}/evaluation/questions": 10,  # + judgements
    "/api/v1/collections/{collection_id}/evaluation/runs": 10,  # + results
    "/api/v1/credentials": 8,
    "/api/v1/rerankers": 8,
    "/api/v1/integrations": 8,
    "/api/v1/gmail/connections": 8,  # the caller's own: a list of one
    "/api/v1/integrations/{integration_id}/events": 9,
    "/api/v1/invitations": 8,
    "/api/v1/members": 8,
    "/api/v1/models": 8,
    "/api/v1/files": 8,
    "/api/v1/webhooks/endpoints": 8,
    "/api/v1/webhooks/event-types": 8,
    "/api/v1/webhooks/endpoints/{endpoint_id}/deliveries": 9,
    # + the conversation counts of the page's widgets (one aggregate in the schema)
    "/api/v1/widgets": 11,
    "/api/v1/widgets/{widget_id}/sessions": 9,
    "/api/v1/conversations/imports": 8,
    "/api/v1/conversations/bookmarks": 8,
    "/api/v1/conversations/messages/{message_id}/reactions": 9,
    "/api/v1/prompts": 8,
    "/api/v1/prompts/{template_id}/versions": 9,
    "/api/v1/workflows": 8,
    "/api/v1/workflows/{workflow_id}/versions": 9,
    "/api/v1/workflows/{workflow_id}/runs": 9,
    "/api/v1/workflow-runs": 8,
    "/api/v1/workflow-notify-destinations": 8,  # one query per target kind
    "/api/v1/workflow-secrets": 8,
}


@pytest.fixture(scope="module")
def seeded(organizations, django_db_blocker):
    with rolled_back_at_the_end(django_db_blocker):
        seed_every_kind(organizations["alpha"], label="LISTED", copies=ROWS)
        connection.set_schema_to_public()
        yield organizations["alpha"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", list_paths())
def test_a_list_is_bounded_in_queries(path, seeded, client_for, django_assert_max_num_queries):
    client = client_for(seeded, "admin")
    url = fill_path(path, harvest_ids(client, path))
    client.get(url, {"page_size": 100})  # the first request of a session warms its caches
    with CaptureQueriesContext(connection) as measured:
        client.get(url, {"page_size": 100})
    assert path in MAX_QUERIES, f"Set the bound of {path}: it took {len(measured)} queries."

    with django_assert_max_num_queries(MAX_QUERIES[path]):
        response = client.get(url, {"page_size": 100})

    assert response.status_code == 200, response.content
    # Several rows, or the bound would not show an N+1 (sessions: one with ROWS turns).
    assert response.json()["count"] >= (
        1 if path in ("/api/v1/chat/sessions", "/api/v1/gmail/connections") else ROWS
    )

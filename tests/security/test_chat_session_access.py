"""Issue 12, Medium 4: API-key restrictions on chat sessions, and key-owned sessions.

A key limited to assistant A must not read, export, rename, rate, regenerate or
delete the sessions of assistant B ("not found", as docs/api.md promises); a
session created through a key belongs to that key, and another non-admin key of
the same organization cannot touch it.
"""

import pytest
from django_tenants.utils import schema_context

from chat.models import ChatSession
from integrations.models import Scope
from tests.factories import api_key_for
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

CHAT_SCOPES = (Scope.CHAT_WRITE, Scope.SESSIONS_READ)


def _chat(client, assistant, message="What is the refund policy?") -> dict:
    response = client.post(
        "/api/v1/chat",
        {"assistant": str(assistant.id), "message": message, "stream": False},
        format="json",
    )
    assert response.status_code == 200, response.content
    return response.json()


def _every_session_operation(client, session_id, answer_id, assistant_id) -> dict[str, int]:
    """The status of each thing one can do to a session, by id."""
    base = f"/api/v1/chat/sessions/{session_id}"
    message = f"/api/v1/chat/messages/{answer_id}"
    return {
        "read": client.get(base).status_code,
        "messages": client.get(f"{base}/messages").status_code,
        "export": client.get(f"{base}/export").status_code,
        "rename": client.patch(base, {"title": "mine now"}, format="json").status_code,
        "rate": client.post(f"{message}/feedback", {"rating": -1}, format="json").status_code,
        "regenerate": client.post(
            f"{message}/regenerate", {"stream": False}, format="json"
        ).status_code,
        "continue": client.post(
            "/api/v1/chat",
            {
                "assistant": str(assistant_id),
                "session": str(session_id),
                "message": "more",
                "stream": False,
            },
            format="json",
        ).status_code,
        "delete": client.delete(base).status_code,
    }


def _listed(client) -> set[str]:
    response = client.get("/api/v1/chat/sessions")
    assert response.status_code == 200
    return {row["id"] for row in response.json()["results"]}


@pytest.mark.parametrize("scopes", [CHAT_SCOPES, (Scope.ADMIN,)], ids=["chat-key", "admin-key"])
def test_a_key_limited_to_assistant_a_gets_404_for_every_session_of_assistant_b(
    org_a, client_for, assistants, scopes
):
    # given: a session of assistant B, made through an unrestricted key
    assistant_a, assistant_b = assistants
    _, other_key = api_key_for(org_a, *CHAT_SCOPES, name="unrestricted")
    made = _chat(client_for(org_a, api_key=other_key), assistant_b)
    session_id, answer_id = made["session_id"], made["message"]["id"]
    _, limited = api_key_for(org_a, *scopes, name="only A", assistant_ids=[assistant_a.id])
    client = client_for(org_a, api_key=limited)

    # when
    statuses = _every_session_operation(client, session_id, answer_id, assistant_b.id)

    # then: nothing of B's session is reachable, and it is untouched
    # continuing it: the key knows no assistant B (400 on the field), so no session either
    assert statuses.pop("continue") in (400, 404)
    assert statuses == dict.fromkeys(statuses, 404)
    assert session_id not in _listed(client)
    with schema_context(org_a.slug):
        session = ChatSession.objects.get(pk=session_id)
        assert session.title != "mine now" and session.message_count == 2
        assert session.messages.get(pk=answer_id).feedback_rating is None


def test_a_key_limited_to_assistant_a_keeps_its_own_sessions_of_a(org_a, client_for, assistants):
    assistant_a, _ = assistants
    _, limited = api_key_for(org_a, *CHAT_SCOPES, assistant_ids=[assistant_a.id])
    client = client_for(org_a, api_key=limited)
    made = _chat(client, assistant_a)

    assert client.get(f"/api/v1/chat/sessions/{made['session_id']}").status_code == 200
    assert _listed(client) == {made["session_id"]}


def test_a_session_created_through_a_key_belongs_to_that_key(org_a, client_for, assistants):
    # given: a session made through key one
    assistant_a, _ = assistants
    key_one, secret_one = api_key_for(org_a, *CHAT_SCOPES, name="one")
    _, secret_two = api_key_for(org_a, *CHAT_SCOPES, name="two")
    made = _chat(client_for(org_a, api_key=secret_one), assistant_a)
    session_id, answer_id = made["session_id"], made["message"]["id"]
    with schema_context(org_a.slug):
        assert ChatSession.objects.get(pk=session_id).api_key_id == key_one.pk

    # when: key two (not an admin key) tries everything on it
    second = client_for(org_a, api_key=secret_two)
    statuses = _every_session_operation(second, session_id, answer_id, assistant_a.id)

    # then: not found, and the session is as it was
    assert statuses.pop("continue") == 404
    assert statuses == dict.fromkeys(statuses, 404)
    assert session_id not in _listed(second)
    with schema_context(org_a.slug):
        session = ChatSession.objects.get(pk=session_id)
        assert session.title != "mine now" and session.message_count == 2


def test_the_owning_key_an_admin_key_and_an_admin_see_a_key_session_but_a_member_does_not(
    org_a, client_for, assistants
):
    assistant_a, _ = assistants
    _, owner = api_key_for(org_a, *CHAT_SCOPES, name="owner")
    _, admin_key = api_key_for(org_a, Scope.ADMIN, name="admin")
    session_id = _chat(client_for(org_a, api_key=owner), assistant_a)["session_id"]
    path = f"/api/v1/chat/sessions/{session_id}"

    owner_client = client_for(org_a, api_key=owner)
    renamed = owner_client.patch(path, {"title": "Renamed by its key"}, format="json")
    assert renamed.status_code == 200 and renamed.json()["title"] == "Renamed by its key"
    assert client_for(org_a, api_key=admin_key).get(path).status_code == 200
    assert client_for(org_a, "admin").get(path).status_code == 200
    assert_error(client_for(org_a, "member").get(path), 404, "not_found")

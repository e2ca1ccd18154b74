"""Issue 12, High 3 and Medium 5: the chat socket follows access changes and limits.

The real consumer (config.asgi) on the real channel layer (channels-redis on the
suite's Redis). Each access change is made through the service (or the HTTP
endpoint) a person would use; its socket must close at once (pushed through the
channel layer when the change commits: no message needed), and a socket whose
close never arrived must still be refused at its next message.
"""

import io

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.management import call_command
from django.test import Client
from django_tenants.utils import schema_context

from audit.services import Actor
from chat.models import ChatSession, Message
from config.asgi import application
from integrations import services as key_services
from integrations.models import Scope
from tests.factories import api_key_for
from tests.helpers import PASSWORD
from tests.security.conftest import logged_in_client, session_cookie
from users import services as user_services
from users.models import Membership, Role, User

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("keep_test_transaction")]

# A pushed close arrives in milliseconds; this bound only keeps a loaded machine
# from failing the test. Without the push nothing would ever arrive.
CLOSE_WAIT = 5


def _communicator(org, *, cookie: str = "", api_key: str = "") -> WebsocketCommunicator:
    headers = [(b"host", org.host.encode())]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    if api_key:
        headers.append((b"authorization", f"Bearer {api_key}".encode()))
    return WebsocketCommunicator(application, "/ws/v1/chat", headers=headers)


async def _closed(communicator, timeout=CLOSE_WAIT) -> tuple[int, list[dict]]:
    """Wait for the server to close the socket: (close code, events sent before)."""
    events = []
    while True:
        output = await communicator.receive_output(timeout=timeout)
        if output["type"] == "websocket.close":
            return output.get("code"), events
        events.append(output)


async def _answer(communicator, assistant, message="What is the refund policy?", **fields):
    """Send one chat message and collect its events up to ``done`` or ``error``."""
    await communicator.send_json_to(
        {"type": "chat", "assistant": str(assistant.id), "message": message, **fields}
    )
    events = []
    while True:
        event = await communicator.receive_json_from(timeout=30)
        events.append(event)
        if event["event"] in ("done", "error"):
            return events


def _membership(org, user) -> Membership:
    return Membership.objects.get(organization=org.organization, user=user)


def _committed(capture, change):
    """Run ``change`` and its on-commit callbacks (the test's transaction never commits)."""

    def run():
        with capture(execute=True):
            change()

    return sync_to_async(run)


def _revoke(org, api_key) -> None:
    with schema_context(org.slug):  # the audit log is the organization's
        key_services.api_key_revoke(api_key=api_key, actor=Actor(user=org.admin))


def _questions_stored(org) -> int:
    with schema_context(org.slug):
        return Message.objects.filter(role="user").count()


# -- pushed: the socket closes when access changes ----------------------------


def test_a_removed_members_socket_closes_at_once(
    org_a, assistants, django_capture_on_commit_callbacks
):
    cookie = session_cookie(logged_in_client(org_a, org_a.member))
    remove = _committed(
        django_capture_on_commit_callbacks,
        lambda: user_services.membership_remove(membership=_membership(org_a, org_a.member)),
    )

    async def scenario():
        communicator = _communicator(org_a, cookie=cookie)
        connected, _ = await communicator.connect()
        assert connected
        await _answer(communicator, assistants[0])  # it works while a member
        await remove()
        closed = await _closed(communicator)
        await communicator.disconnect()
        return closed

    code, events = async_to_sync(scenario)()
    assert code == 4404
    assert [e.get("text") for e in events] and "no longer a member" in events[-1]["text"]


def test_a_role_change_closes_the_members_sockets(
    org_a, assistants, django_capture_on_commit_callbacks
):
    cookie = session_cookie(logged_in_client(org_a, org_a.admin))
    # a second admin, so the first may be demoted
    user_services.membership_change_role(membership=_membership(org_a, org_a.member), role="admin")
    demote = _committed(
        django_capture_on_commit_callbacks,
        lambda: user_services.membership_change_role(
            membership=_membership(org_a, org_a.admin), role=Role.VIEWER
        ),
    )

    async def scenario():
        communicator = _communicator(org_a, cookie=cookie)
        assert (await communicator.connect())[0]
        await demote()
        closed = await _closed(communicator)
        await communicator.disconnect()
        return closed

    code, _ = async_to_sync(scenario)()
    assert code == 4403


def test_logging_out_closes_the_sockets_of_that_login(
    org_a, assistants, django_capture_on_commit_callbacks
):
    browser = logged_in_client(org_a, org_a.member)
    cookie = session_cookie(browser)
    log_out = _committed(
        django_capture_on_commit_callbacks,
        lambda: browser.delete("/_allauth/browser/v1/auth/session"),
    )

    async def scenario():
        communicator = _communicator(org_a, cookie=cookie)
        assert (await communicator.connect())[0]
        await log_out()
        closed = await _closed(communicator)
        await communicator.disconnect()
        return closed

    code, _ = async_to_sync(scenario)()
    assert code == 4401


def test_changing_the_password_closes_the_persons_other_sockets(
    org_a, assistants, django_capture_on_commit_callbacks
):
    other_browser = session_cookie(logged_in_client(org_a, org_a.member))
    this_browser = logged_in_client(org_a, org_a.member)

    def change_password():
        response = this_browser.post(
            "/_allauth/browser/v1/account/password/change",
            {"current_password": PASSWORD, "new_password": "An0ther-long-passphrase!"},
            content_type="application/json",
        )
        assert response.status_code == 200, response.content

    change = _committed(django_capture_on_commit_callbacks, change_password)

    async def scenario():
        communicator = _communicator(org_a, cookie=other_browser)
        assert (await communicator.connect())[0]
        await change()
        closed = await _closed(communicator)
        await communicator.disconnect()
        return closed

    code, _ = async_to_sync(scenario)()
    assert code == 4401


def _socket_after(org, cookie: str, change) -> int:
    """Open the person's socket, make ``change`` (committed): the close code pushed."""

    async def scenario():
        communicator = _communicator(org, cookie=cookie)
        assert (await communicator.connect())[0]
        await change()
        code, _ = await _closed(communicator)
        await communicator.disconnect()
        return code

    return async_to_sync(scenario)()


def test_a_password_changed_by_the_platform_admin_closes_the_persons_sockets(
    org_a, assistants, django_capture_on_commit_callbacks
):
    cookie = session_cookie(logged_in_client(org_a, org_a.member))
    staff = User.objects.create_superuser(email="staff@platform.test", password=PASSWORD)
    admin = Client(HTTP_HOST="localhost")
    admin.force_login(staff)

    def change_password():
        response = admin.post(
            f"/admin/users/user/{org_a.member.pk}/password/",
            {"password1": "An0ther-long-passphrase!", "password2": "An0ther-long-passphrase!"},
        )
        assert response.status_code == 302, response.content[:500]

    code = _socket_after(
        org_a, cookie, _committed(django_capture_on_commit_callbacks, change_password)
    )
    assert code == 4401


def test_a_password_changed_by_the_changepassword_command_closes_the_persons_sockets(
    org_a, assistants, django_capture_on_commit_callbacks, monkeypatch
):
    cookie = session_cookie(logged_in_client(org_a, org_a.member))
    # The command asks twice on the terminal; these are the operator's answers.
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "An0ther-long-passphrase!")
    change = _committed(
        django_capture_on_commit_callbacks,
        lambda: call_command("changepassword", org_a.member.email, stdout=io.StringIO()),
    )
    assert _socket_after(org_a, cookie, change) == 4401
    # A fresh row: the suite's shared ``org_a.member`` must keep the password it has.
    assert User.objects.get(pk=org_a.member.pk).check_password("An0ther-long-passphrase!")


def test_saving_a_person_without_a_new_password_leaves_their_sockets_open(
    org_a, assistants, django_capture_on_commit_callbacks
):
    cookie = session_cookie(logged_in_client(org_a, org_a.member))

    def rename():
        person = User.objects.get(pk=org_a.member.pk)
        person.name = "Renamed"
        person.save()

    rename_committed = _committed(django_capture_on_commit_callbacks, rename)

    async def scenario():
        communicator = _communicator(org_a, cookie=cookie)
        assert (await communicator.connect())[0]
        await rename_committed()
        events = await _answer(communicator, assistants[0])  # still open, still answering
        await communicator.disconnect()
        return events

    assert async_to_sync(scenario)()[-1]["event"] == "done"


def test_revoking_an_api_key_closes_its_sockets(
    org_a, assistants, django_capture_on_commit_callbacks
):
    api_key, secret = api_key_for(org_a, Scope.CHAT_WRITE)
    revoke = _committed(django_capture_on_commit_callbacks, lambda: _revoke(org_a, api_key))

    async def scenario():
        communicator = _communicator(org_a, api_key=secret)
        connected, _ = await communicator.connect()
        assert connected
        first = await _answer(communicator, assistants[0])
        await revoke()
        closed = await _closed(communicator)
        await communicator.disconnect()
        return first, closed

    first, (code, _) = async_to_sync(scenario)()
    assert first[-1]["event"] == "done"
    assert code == 4401
    with schema_context(org_a.slug):
        session = ChatSession.objects.get(pk=first[0]["data"]["session_id"])
    assert session.api_key_id == api_key.pk  # the key's own session


# -- the safety net: every message is authorized afresh --------------------------


def test_a_removed_members_next_message_is_refused_even_without_the_push(org_a, assistants):
    cookie = session_cookie(logged_in_client(org_a, org_a.member))

    async def scenario():
        communicator = _communicator(org_a, cookie=cookie)
        assert (await communicator.connect())[0]
        # removed inside the test's transaction: no commit, so no close is pushed
        await sync_to_async(
            lambda: user_services.membership_remove(membership=_membership(org_a, org_a.member))
        )()
        events = await _answer(communicator, assistants[0])
        closed = await _closed(communicator)
        await communicator.disconnect()
        return events, closed

    before = _questions_stored(org_a)
    events, (code, _) = async_to_sync(scenario)()
    assert [e["event"] for e in events] == ["error"]
    assert events[0]["data"]["code"] == "not_found"
    assert code == 4404
    assert _questions_stored(org_a) == before


def test_a_demoted_admins_next_message_has_the_new_role(org_a, assistants):
    # given: a session of the member (not shared), which only admins may use
    assistant = assistants[0]
    member = logged_in_client(org_a, org_a.member)
    made = member.post(
        "/api/v1/chat",
        {"assistant": str(assistant.id), "message": "Refunds?", "stream": False},
        content_type="application/json",
    )
    session_id = made.json()["session_id"]
    user_services.membership_change_role(membership=_membership(org_a, org_a.viewer), role="admin")
    cookie = session_cookie(logged_in_client(org_a, org_a.admin))

    async def scenario():
        communicator = _communicator(org_a, cookie=cookie)
        assert (await communicator.connect())[0]
        await sync_to_async(
            lambda: user_services.membership_change_role(
                membership=_membership(org_a, org_a.admin), role=Role.MEMBER
            )
        )()  # no commit: nothing pushed
        events = await _answer(communicator, assistant, "And shipping?", session=session_id)
        await communicator.disconnect()
        return events

    events = async_to_sync(scenario)()
    assert [e["event"] for e in events] == ["error"]
    assert events[0]["data"]["code"] == "not_found"


def test_a_logged_out_sessions_next_message_is_refused_even_without_the_push(org_a, assistants):
    browser = logged_in_client(org_a, org_a.member)
    cookie = session_cookie(browser)

    async def scenario():
        communicator = _communicator(org_a, cookie=cookie)
        assert (await communicator.connect())[0]
        await sync_to_async(browser.logout)()  # no commit: nothing pushed
        events = await _answer(communicator, assistants[0])
        closed = await _closed(communicator)
        await communicator.disconnect()
        return events, closed

    events, (code, _) = async_to_sync(scenario)()
    assert [e["event"] for e in events] == ["error"]
    assert events[0]["data"]["code"] == "not_authenticated"
    assert code == 4401


def test_a_revoked_keys_next_message_is_refused_even_without_the_push(org_a, assistants):
    api_key, secret = api_key_for(org_a, Scope.CHAT_WRITE)

    async def scenario():
        communicator = _communicator(org_a, api_key=secret)
        assert (await communicator.connect())[0]
        await sync_to_async(_revoke)(org_a, api_key)  # no commit: nothing pushed
        events = await _answer(communicator, assistants[0])
        closed = await _closed(communicator)
        await communicator.disconnect()
        return events, closed

    before = _questions_stored(org_a)
    events, (code, _) = async_to_sync(scenario)()
    assert [e["event"] for e in events] == ["error"]
    assert code == 4401
    assert _questions_stored(org_a) == before


# -- API-key scopes and restrictions on the socket -------------------------------


def test_a_key_without_the_chat_scope_cannot_open_a_socket(org_a):
    _, secret = api_key_for(org_a, Scope.SESSIONS_READ)

    async def attempt():
        communicator = _communicator(org_a, api_key=secret)
        connected, code = await communicator.connect()
        await communicator.disconnect()
        return connected, code

    assert async_to_sync(attempt)() == (False, 4403)


def test_a_key_limited_to_assistant_a_cannot_chat_with_b_on_the_socket(org_a, assistants):
    assistant_a, assistant_b = assistants
    _, secret = api_key_for(org_a, Scope.CHAT_WRITE, assistant_ids=[assistant_a.id])

    async def scenario():
        communicator = _communicator(org_a, api_key=secret)
        assert (await communicator.connect())[0]
        refused = await _answer(communicator, assistant_b)
        allowed = await _answer(communicator, assistant_a)
        await communicator.disconnect()
        return refused, allowed

    refused, allowed = async_to_sync(scenario)()
    assert refused[-1]["event"] == "error" and "assistant" in refused[-1]["data"]["fields"]
    assert allowed[-1]["event"] == "done"


# -- rate limits ------------------------------------------------------------------


def test_the_plans_rate_limit_applies_to_socket_messages(org_a, assistants, use_plan, settings):
    # One long window: the test never straddles two.
    settings.RATE_LIMIT_WINDOW_SECONDS = 3600
    use_plan(requests_per_minute=3)
    cookie = session_cookie(logged_in_client(org_a, org_a.member))

    async def scenario():
        communicator = _communicator(org_a, cookie=cookie)
        assert (await communicator.connect())[0]
        answers = [await _answer(communicator, assistants[0]) for _ in range(5)]
        await communicator.disconnect()
        return answers

    before = _questions_stored(org_a)
    answers = async_to_sync(scenario)()
    last_events = [a[-1] for a in answers]
    assert [e["event"] for e in last_events] == ["done", "done", "done", "error", "error"], (
        last_events
    )
    refused = last_events[3]["data"]
    assert refused["code"] == "throttled" and refused["status"] == 429
    assert refused["retry_after"] >= 1
    assert _questions_stored(org_a) == before + 3

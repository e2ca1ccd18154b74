"""The WebSocket endpoint: the same events as SSE, one connection for a conversation."""

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import Client
from django_tenants.utils import schema_context

from assistants.tests.providers.fake_server import Reply
from chat.models import ChatSession, Message, MessageStatus
from config.asgi import application

pytestmark = pytest.mark.usefixtures("keep_websocket_test_transaction")


def _cookie(org, user) -> str:
    client = Client(HTTP_HOST=org.host)
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def _communicator(host: str, cookie: str = "", origin: str | None = None) -> WebsocketCommunicator:
    headers = [(b"host", host.encode()), (b"cookie", cookie.encode())]
    if origin:
        headers.append((b"origin", origin.encode()))
    return WebsocketCommunicator(application, "/ws/v1/chat", headers=headers)


async def _until_end(communicator) -> list[dict]:
    events = []
    while True:
        event = await communicator.receive_json_from(timeout=20)
        events.append(event)
        if event["event"] in ("done", "error"):
            return events


@pytest.mark.django_db
def test_a_conversation_over_one_socket(org_a, assistant):
    cookie = _cookie(org_a, org_a.member)

    async def talk():
        communicator = _communicator(org_a.host, cookie, origin=f"http://{org_a.host}")
        connected, _ = await communicator.connect()
        assert connected
        await communicator.send_json_to(
            {
                "type": "chat",
                "assistant": str(assistant.id),
                "message": "What is the refund policy?",
            }
        )
        first = await _until_end(communicator)
        session_id = first[0]["data"]["session_id"]
        await communicator.send_json_to(
            {
                "type": "chat",
                "assistant": str(assistant.id),
                "session": session_id,
                "message": "How does it work?",
            }
        )
        second = await _until_end(communicator)
        await communicator.disconnect()
        return first, second

    first, second = async_to_sync(talk)()

    for events in (first, second):
        names = [e["event"] for e in events]
        assert (
            names[0] == "session"
            and names[-3:] == ["sources", "usage", "done"]
            and "delta" in names
        )
    with schema_context(org_a.slug):
        session = ChatSession.objects.get(pk=first[0]["data"]["session_id"])
        assert session.message_count == 4
        follow_up = Message.objects.get(pk=second[-1]["data"]["message_id"])
    assert "refund policy" in follow_up.retrieval_query.lower()


@pytest.mark.django_db
def test_invalid_message_gets_an_error_event_with_fields(org_a, assistant):
    cookie = _cookie(org_a, org_a.viewer)

    async def talk():
        communicator = _communicator(org_a.host, cookie)
        await communicator.connect()
        await communicator.send_json_to(
            {"type": "chat", "assistant": str(assistant.id), "message": "", "top_k": 99}
        )
        event = await communicator.receive_json_from(timeout=10)
        await communicator.disconnect()
        return event

    event = async_to_sync(talk)()
    assert event["event"] == "error" and {"message", "top_k"} <= set(event["data"]["fields"])


@pytest.mark.django_db
def test_disconnect_mid_answer_keeps_it_cancelled(org_a, openai_assistant, provider_server):
    provider_server.enqueue(Reply(text=" ".join(f"w{i}" for i in range(80)), chunk_delay=0.02))
    cookie = _cookie(org_a, org_a.member)

    async def talk():
        communicator = _communicator(org_a.host, cookie)
        await communicator.connect()
        await communicator.send_json_to(
            {"type": "chat", "assistant": str(openai_assistant.id), "message": "Refunds?"}
        )
        seen = [await communicator.receive_json_from(timeout=10) for _ in range(4)]
        await communicator.disconnect()
        return seen

    seen = async_to_sync(talk)()
    with schema_context(org_a.slug):
        message = Message.objects.get(pk=seen[0]["data"]["message_id"])
    assert message.status == MessageStatus.CANCELLED and message.content


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["anonymous", "other_org", "foreign_origin"])
def test_outsiders_cannot_connect(org_a, org_b, who):
    cookie = {
        "anonymous": "",
        "other_org": _cookie(org_b, org_b.admin),
        "foreign_origin": _cookie(org_a, org_a.admin),
    }[who]
    origin = "https://evil.example" if who == "foreign_origin" else None

    async def attempt():
        communicator = _communicator(org_a.host, cookie, origin)
        connected, code = await communicator.connect()
        await communicator.disconnect()
        return connected, code

    connected, code = async_to_sync(attempt)()
    assert not connected
    if who == "anonymous":
        assert code == 4401
    elif who == "other_org":
        assert code == 4404

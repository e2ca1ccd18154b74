"""Attachments over the WebSocket: the same field and the same answers as over HTTP."""

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import Client
from django_tenants.utils import schema_context

from chat.models import Message
from config.asgi import application
from files.tests.samples import png
from tests.factories import make_assistant, upload_files

pytestmark = pytest.mark.usefixtures("keep_websocket_test_transaction")


def _talk(org, payload: dict) -> list[dict]:
    client = Client(HTTP_HOST=org.host)
    client.force_login(org.member)
    cookie = f"sessionid={client.cookies['sessionid'].value}"

    async def talk():
        communicator = WebsocketCommunicator(
            application,
            "/ws/v1/chat",
            headers=[
                (b"host", org.host.encode()),
                (b"cookie", cookie.encode()),
                (b"origin", f"http://{org.host}".encode()),
            ],
        )
        connected, _ = await communicator.connect()
        assert connected
        await communicator.send_json_to({"type": "chat", **payload})
        events = []
        while True:
            event = await communicator.receive_json_from(timeout=30)
            events.append(event)
            if event["event"] in ("done", "error"):
                break
        await communicator.disconnect()
        return events

    return async_to_sync(talk)()


@pytest.mark.django_db
def test_a_table_attached_over_the_socket_is_answered_from_every_row(org_a):
    assistant = make_assistant(org_a, with_knowledge=False)
    rows = "".join(f"{n},{n}.5\n" for n in range(1, 1001))
    [file] = upload_files(org_a, [("points.csv", f"n,score\n{rows}".encode())], user=org_a.member)
    events = _talk(
        org_a,
        {
            "assistant": str(assistant.id),
            "message": "What is the total score?",
            "attachments": [str(file.id)],
        },
    )
    text = "".join(e["data"]["text"] for e in events if e["event"] == "delta")
    assert "the total of score is 501,000." in text  # 1 + ... + 1000 plus 1000 halves
    sources = next(e for e in events if e["event"] == "sources")["data"]
    assert sources["sources"][0]["file_id"] == str(file.id) and sources["omitted"] == []
    with schema_context(org_a.slug):
        question = Message.objects.get(role="user", session_id=events[0]["data"]["session_id"])
        assert list(question.attachments.all()) == [file]


@pytest.mark.django_db
def test_an_image_for_a_text_only_model_is_an_error_event(org_a):
    assistant = make_assistant(org_a, with_knowledge=False)
    [image] = upload_files(org_a, [("photo.png", png())], user=org_a.member)
    events = _talk(
        org_a,
        {
            "assistant": str(assistant.id),
            "message": "What is this?",
            "attachments": [str(image.id)],
        },
    )
    assert events[-1]["event"] == "error"
    assert events[-1]["data"]["code"] == "invalid_attachment"
    assert "cannot read images" in events[-1]["data"]["message"]

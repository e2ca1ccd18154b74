"""The Low findings of issue 12 (item 6), each reproduced as a user would meet it."""

import io
import secrets

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.core import mail
from django.test import Client

from config.asgi import application
from tests.factories import api_key_for, process_pending
from tests.helpers import assert_error
from users.models import Invitation

pytestmark = pytest.mark.django_db


def test_accepting_an_invitation_with_an_api_key_is_refused_not_a_crash(
    org_a, client_for, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        client_for(org_a, "admin").post("/api/v1/invitations", {"email": "bot@example.test"})
    token = mail.outbox[-1].body.split("token=")[1].split()[0]
    _, key = api_key_for(org_a)

    response = client_for(org_a, api_key=key).post(
        "/api/v1/invitations/accept", {"token": token, "password": "pw-0123456789-long"}
    )

    assert_error(response, 403)
    assert Invitation.objects.get(email="bot@example.test").status == "pending"


def test_revoking_an_invitation_answers_204_as_its_schema_says(org_a, client_for):
    admin = client_for(org_a, "admin")
    invitation = admin.post("/api/v1/invitations", {"email": "gone@example.test"}).json()

    response = admin.delete(f"/api/v1/invitations/{invitation['id']}")

    assert response.status_code == 204 and response.content == b""
    assert admin.get(f"/api/v1/invitations/{invitation['id']}").json()["status"] == "revoked"


def _address() -> str:
    return f"198.51.100.{secrets.randbelow(250) + 1}"


@pytest.mark.parametrize("host", ["organization", "public"])
def test_failed_api_key_attempts_are_throttled_per_client_address(
    settings, org_a, client_for, host
):
    settings.API_KEY_FAILURES_PER_WINDOW = 3
    settings.API_KEY_FAILURE_WINDOW_SECONDS = 3600
    _, good = api_key_for(org_a)
    attacker, neighbour = _address(), _address()
    while neighbour == attacker:
        neighbour = _address()
    hostname = org_a.host if host == "organization" else "localhost"

    def call(key: str, address: str):
        client = client_for(hostname, api_key=key)
        return client.get("/api/v1/assistants", REMOTE_ADDR=address)

    for attempt in range(3):
        assert_error(call(f"apk_wrong{attempt}_{'x' * 40}", attacker), 401)
    throttled = call(f"apk_wrong9_{'x' * 40}", attacker)
    assert_error(throttled, 429, "throttled")
    assert 0 < int(throttled["Retry-After"]) <= 3600
    # while throttled, even a right key from that address is not checked (or answered)
    assert_error(call(good, attacker), 429)
    # another address is not affected
    assert call(good, neighbour).status_code == 200


def _cookie(org, user) -> str:
    client = Client(HTTP_HOST=org.host)
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


@pytest.fixture
def keep_test_transaction(monkeypatch):
    """As in chat/tests/test_websocket.py: Channels would close the test's connection."""

    async def keep():
        return None

    monkeypatch.setattr("channels.consumer.aclose_old_connections", keep)
    monkeypatch.setattr("channels.generic.websocket.aclose_old_connections", keep)


@pytest.mark.parametrize(
    "origin, accepted",
    [
        ("http://{host}", True),
        ("http://{other}", False),  # a sibling organization's subdomain
        ("http://localhost", False),  # the public site
        ("https://{host}", False),  # another port (443)
        ("http://{host}.evil.example", False),
    ],
)
def test_websocket_origin_must_be_the_organization_host_itself(
    keep_test_transaction, org_a, org_b, origin, accepted
):
    cookie = _cookie(org_a, org_a.member)
    origin = origin.format(host=org_a.host, other=org_b.host)

    async def connect():
        communicator = WebsocketCommunicator(
            application,
            "/ws/v1/chat",
            headers=[
                (b"host", org_a.host.encode()),
                (b"cookie", cookie.encode()),
                (b"origin", origin.encode()),
            ],
        )
        connected, _ = await communicator.connect()
        await communicator.disconnect()
        return connected

    assert async_to_sync(connect)() is accepted


@pytest.mark.parametrize("spelling", ["upper", "trailing_dot"])
def test_host_names_match_whatever_their_case(org_a, client_for, spelling):
    host = org_a.host.upper() if spelling == "upper" else org_a.host + "."
    response = client_for(host, org_a.admin).get("/api/v1/me")
    assert response.status_code == 200, response.content
    assert response.json()["organization"]["slug"] == org_a.slug


def test_markdown_uploads_keep_no_raw_html_in_served_chunk_text(org_a, client_for):
    member = client_for(org_a, "member")
    collection = member.post("/api/v1/collections", {"name": "Docs"}, format="json").json()
    upload = io.BytesIO(
        b"# Returns\n\nRefunds take five days.<script>alert(document.cookie)</script>\n\n"
        b'See <img src=x onerror="alert(1)"> the <a href="javascript:alert(2)">form</a>.\n\n'
        b"<iframe src=//evil.example></iframe>Use the `<div>` tag.\n"
    )
    upload.name = "returns.md"
    url = f"/api/v1/collections/{collection['id']}/documents"
    created = member.post(url, {"files": [upload]}, format="multipart")
    assert created.status_code == 201, created.content
    process_pending(org_a)
    document_id = created.json()["results"][0]["document"]["id"]

    chunks = member.get(f"{url}/{document_id}/chunks").json()["results"]

    text = "\n".join(chunk["text"] for chunk in chunks)
    assert "Refunds take five days." in text and "the form." in text
    for raw in ("<script", "onerror", "<img", "javascript:", "<iframe", "<a "):
        assert raw not in text.lower()
    assert "`<div>`" in text  # inline code is text, kept as written

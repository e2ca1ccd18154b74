"""The answering endpoints are async views: the DRF view authorizes, validates and
prepares in a worker thread, the answer streams on the event loop, and the request's
worker thread is let go while it streams."""

import asyncio
import json
import threading

import pytest
from asgiref.sync import ThreadSensitiveContext, async_to_sync, iscoroutinefunction, sync_to_async
from django.core import signals
from django.core.handlers.asgi import ASGIHandler
from django.db import close_old_connections
from django.test import Client
from django.urls import resolve
from django_tenants.utils import schema_context

from chat import streaming
from chat.api import views
from chat.models import Message, MessageStatus
from core.access import Scope
from core.api.authorization import caller_resolve
from tests.factories import api_key_for
from tests.helpers import parse_sse


@pytest.fixture(autouse=True)
def keep_test_transaction():
    """Django's handler closes "old" connections when a request starts and ends, which
    inside a test's transaction would end it; the test client disconnects the same
    hooks for the same reason."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


class Caller:
    """Requests sent to Django's ASGI handler as a server sends them (one
    ThreadSensitiveContext per request, the body streamed back in messages)."""

    def __init__(self, org, user=None, api_key: str | None = None):
        self.headers = [(b"host", org.host.encode()), (b"content-type", b"application/json")]
        if user is not None:
            client = Client(HTTP_HOST=org.host)
            client.force_login(user)
            token = "t" * 32
            cookie = f"sessionid={client.cookies['sessionid'].value}; csrftoken={token}"
            self.headers += [(b"cookie", cookie.encode()), (b"x-csrftoken", token.encode())]
        if api_key is not None:
            self.headers.append((b"authorization", f"Bearer {api_key}".encode()))

    def post(self, path: str, payload: dict, accept: str = "*/*") -> tuple[int, dict, bytes]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": [
                *self.headers,
                (b"accept", accept.encode()),
                (b"content-length", str(len(json.dumps(payload))).encode()),
            ],
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 80),
        }

        async def send():
            # Run in this context (not a fresh one, as asgiref's ApplicationCommunicator
            # does): the handler's synchronous parts then run on this test's thread, in
            # its transaction.
            inbox, outbox = asyncio.Queue(), asyncio.Queue()
            await inbox.put({"type": "http.request", "body": json.dumps(payload).encode()})
            served = asyncio.ensure_future(ASGIHandler()(scope, inbox.get, outbox.put))
            start = await asyncio.wait_for(outbox.get(), 30)
            body = []
            while True:
                message = await asyncio.wait_for(outbox.get(), 30)
                body.append(message.get("body", b""))
                if not message.get("more_body"):
                    break
            await inbox.put({"type": "http.disconnect"})
            await served
            headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
            return start["status"], headers, b"".join(body)

        return async_to_sync(send)()


@pytest.mark.parametrize(
    "path", ["/api/v1/chat", "/api/v1/chat/messages/x/regenerate", "/api/v1/chat/messages/x/edit"]
)
def test_the_answering_endpoints_are_async_views_around_their_drf_views(path):
    match = resolve(path)
    assert iscoroutinefunction(match.func)
    # The DRF view is still what the schema, the scope walk and CSRF see.
    assert issubclass(match.func.view_class, views.OrganizationAPIView)
    assert match.func.csrf_exempt


@pytest.mark.django_db
class TestOverTheAsyncPath:
    def test_a_streamed_answer_arrives_in_order_and_is_stored(self, org_a, assistant):
        status, headers, body = Caller(org_a, org_a.member).post(
            "/api/v1/chat",
            {"assistant": str(assistant.id), "message": "How long does a refund take?"},
        )

        assert status == 200 and headers["content-type"] == "text/event-stream"
        events = parse_sse(body)
        names = [name for name, _ in events]
        assert names[0] == "session" and names[-3:] == ["sources", "usage", "done"]
        answer = "".join(data["text"] for name, data in events if name == "delta")
        with schema_context(org_a.slug):
            message = Message.objects.get(pk=events[-1][1]["message_id"])
        assert message.status == MessageStatus.COMPLETE and message.content == answer

    def test_json_mode_answers_in_one_body(self, org_a, assistant):
        status, _, body = Caller(org_a, org_a.member).post(
            "/api/v1/chat",
            {"assistant": str(assistant.id), "message": "When is a refund paid?", "stream": False},
        )

        assert status == 200, body
        data = json.loads(body)
        assert data["message"]["status"] == MessageStatus.COMPLETE and data["message"]["content"]

    def test_bad_input_gets_field_errors_in_the_one_format_and_stores_nothing(
        self, org_a, assistant
    ):
        status, headers, body = Caller(org_a, org_a.member).post(
            "/api/v1/chat",
            {"assistant": str(assistant.id), "message": "   "},
            accept="text/event-stream",
        )

        assert status == 400 and headers["content-type"] == "application/json"
        error = json.loads(body)["error"]
        assert error["code"] == "invalid" and "message" in error["fields"]
        with schema_context(org_a.slug):
            assert not Message.objects.exists()

    def test_authorization_is_the_base_views(self, org_a, org_b, assistant):
        question = {"assistant": str(assistant.id), "message": "Hi"}
        _, read_only_key = api_key_for(org_a, Scope.SESSIONS_READ)

        anonymous, _, _ = Caller(org_a).post("/api/v1/chat", question)
        outsider, _, body = Caller(org_a, org_b.member).post("/api/v1/chat", question)
        keyed, _, keyed_body = Caller(org_a, api_key=read_only_key).post("/api/v1/chat", question)

        assert anonymous in (401, 403)
        assert outsider == 404 and json.loads(body)["error"]["code"] == "not_found"
        assert keyed == 403 and json.loads(keyed_body)["error"]["code"] == "permission_denied"
        with schema_context(org_a.slug):
            assert not Message.objects.exists()


@pytest.mark.django_db
def test_an_answer_is_stored_and_charged_while_redis_is_unreachable(
    org_a, openai_assistant, provider_server, settings
):
    """The tokens-per-minute counter lives in Redis; the answer and its ledger row live in
    PostgreSQL and must not be lost when the counter cannot be reached."""
    from billing.models import UsageRecord
    from chat import services

    with schema_context(org_a.slug):
        turn = services.chat_prepare(
            organization=org_a.organization,
            user=org_a.member,
            assistant_id=openai_assistant.id,
            message="Refunds?",
            caller=caller_resolve(organization=org_a.organization, user=org_a.member, api_key=None),
        )
    unreachable = f"redis://127.0.0.1:{_closed_port()}/0"
    settings.CACHES = {
        name: {**cache, "LOCATION": unreachable} for name, cache in settings.CACHES.items()
    }

    async def stream():
        return [event async for event in streaming.turn_events(turn)]

    events = async_to_sync(stream)()

    assert events[-1].name == "done"
    with schema_context(org_a.slug):
        message = Message.objects.get(pk=turn.assistant_message.pk)
    record = UsageRecord.objects.get(organization=org_a.organization, kind="chat")
    assert message.status == MessageStatus.COMPLETE and message.total_tokens == record.total_tokens


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the block ends: nobody listens


def test_the_request_thread_is_let_go_once_the_stream_starts():
    """What a server does per request: a ThreadSensitiveContext whose one worker thread
    runs the synchronous parts. Releasing it ends that thread; later synchronous calls
    of the request get a fresh one."""

    async def request():
        async with ThreadSensitiveContext():
            first = await sync_to_async(threading.current_thread)()
            streaming.release_request_thread()
            for _ in range(200):  # the thread ends once it has closed its connection
                if not first.is_alive():
                    break
                await asyncio.sleep(0.01)
            alive = first.is_alive()
            later = await sync_to_async(threading.current_thread)()
            return alive, first, later

    alive, first, later = asyncio.run(request())

    assert not alive and first is not threading.main_thread()
    assert later is not first

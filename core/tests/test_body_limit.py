"""Bodies over the limit are refused before the platform reads them (core/body_limit.py).

The platform's ASGI application (config/asgi.py, Django behind it) is called as uvicorn
calls it: the body arrives in messages, and a chunked upload has no Content-Length.
"""

import asyncio
import json

import pytest

from config.asgi import application
from users.models import User

CHUNK = 64 * 1024


class Client:
    """One request through the ASGI application; records how much body was pulled."""

    def __init__(self, body: bytes, *, headers: dict, chunk: int = CHUNK):
        self.parts = [body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""]
        self.headers = headers
        self.pulled = 0
        self.sent: list[dict] = []

    async def receive(self):
        if not self.parts:
            await asyncio.sleep(3600)  # a client that sent everything waits for the answer
        part = self.parts.pop(0)
        self.pulled += len(part)
        return {"type": "http.request", "body": part, "more_body": bool(self.parts)}

    async def send(self, message):
        self.sent.append(message)

    def post(self, path: str) -> tuple[int, dict]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "client": ("127.0.0.1", 50000),
            "server": ("localhost", 8000),
            "headers": [(b"host", b"localhost")]
            + [(k.lower().encode(), v.encode()) for k, v in self.headers.items()],
        }
        asyncio.run(asyncio.wait_for(application(scope, self.receive, self.send), 60))
        status = self.sent[0]["status"]
        content = b"".join(m.get("body", b"") for m in self.sent[1:])
        return status, json.loads(content)


def signup_body(size: int) -> bytes:
    """A sign-up whose padding makes the body ``size`` bytes: it would create a user."""
    body = {"email": "big@example.com", "password": "a-Long-passw0rd!", "padding": ""}
    base = len(json.dumps(body).encode())
    body["padding"] = "x" * max(0, size - base)
    return json.dumps(body).encode()


SIGNUP = "/api/v1/signup"


@pytest.mark.django_db
def test_a_chunked_body_over_the_limit_is_refused_while_it_arrives(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024
    client = Client(signup_body(8 * 1024 * 1024), headers={"content-type": "application/json"})
    status, body = client.post(SIGNUP)
    assert status == 413
    assert body["error"]["code"] == "payload_too_large"
    assert "262,144 bytes" in body["error"]["message"]
    # Reading stopped at the limit: the other 7.7 MB were never taken from the client.
    assert client.pulled <= settings.DATA_UPLOAD_MAX_MEMORY_SIZE + CHUNK
    assert not User.objects.filter(email="big@example.com").exists()


@pytest.mark.django_db
def test_a_content_length_over_the_limit_is_refused_unread(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024
    body = signup_body(1024 * 1024)
    client = Client(
        body, headers={"content-type": "application/json", "content-length": str(len(body))}
    )
    status, answer = client.post(SIGNUP)
    assert (status, answer["error"]["code"]) == (413, "payload_too_large")
    assert client.pulled == 0


@pytest.mark.django_db
def test_multipart_bodies_have_the_upload_limit(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    settings.API_MAX_UPLOAD_REQUEST_BYTES = 512 * 1024
    headers = {"content-type": "multipart/form-data; boundary=b"}
    # 300 kB of multipart is over the JSON limit but under the upload limit: it reaches
    # the platform, which answers it (no such upload endpoint on the public host: 404).
    under = Client(b"--b\r\n" + b"x" * 300_000, headers=headers)
    status, _ = under.post("/api/v1/files")
    assert status != 413
    over = Client(b"--b\r\n" + b"x" * 2_000_000, headers=headers)
    status, answer = over.post("/api/v1/files")
    assert (status, answer["error"]["code"]) == (413, "payload_too_large")
    assert "524,288 bytes" in answer["error"]["message"]


@pytest.mark.django_db
def test_a_chunked_body_under_the_limit_reaches_the_platform(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024
    body = json.dumps({"email": "not-an-address", "padding": "x" * 200_000}).encode()
    client = Client(body, headers={"content-type": "application/json"})
    status, answer = client.post(SIGNUP)
    # The platform read all of it and answered it: the address is refused by name.
    assert status == 400, answer
    assert client.pulled == len(body)
    assert "email" in json.dumps(answer["error"]), answer

"""The fake server itself: routes the SDKs don't exercise are still spoken correctly."""

from __future__ import annotations

import json
import urllib.request

from .fake_server import Reply


def post(url: str, body: dict, key: str = "test-key") -> tuple[int, dict]:
    request = urllib.request.Request(  # noqa: S310 - loopback test server only
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "x-goog-api-key": key},
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        return response.status, json.loads(response.read())


def test_gemini_single_embed_content(server):
    server.enqueue(Reply(vectors=[[0.5, 0.25]]))
    status, body = post(
        f"{server.url}/v1beta/models/text-embedding-004:embedContent",
        {"content": {"parts": [{"text": "hello"}]}},
    )
    assert status == 200
    assert body == {"embedding": {"values": [0.5, 0.25]}}
    assert server.last.body["content"]["parts"][0]["text"] == "hello"


def test_unknown_route_is_404(server):
    try:
        post(f"{server.url}/nope", {})
    except urllib.error.HTTPError as exc:
        assert exc.code == 404
    else:
        raise AssertionError("expected 404")

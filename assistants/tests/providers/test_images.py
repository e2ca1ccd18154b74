"""Images reach each provider in its own wire format (the real SDKs against the local
server, which decodes them as the providers do and refuses malformed ones)."""

import base64

import pytest

from assistants.providers.base import ChatMessage, ChatRequest, ImagePart
from assistants.providers.errors import InvalidRequest

from .fake_server import DEFAULT_TEXT, request_images

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def _request() -> ChatRequest:
    return ChatRequest(
        model="test-model",
        messages=[ChatMessage("user", "What is in this picture?", (ImagePart("image/png", PNG),))],
    )


@pytest.mark.parametrize(
    ("name", "protocol"), [("openai", "openai"), ("anthropic", "anthropic"), ("google", "gemini")]
)
def test_each_adapter_sends_the_image_in_its_providers_format(
    make_provider, server, name, protocol
):
    result = make_provider(name).complete(_request())
    body = server.last.body
    assert request_images(protocol, body) == [("image/png", PNG)]
    # The question still travels as text beside the image.
    assert "What is in this picture?" in str(body)
    assert result.text.startswith(DEFAULT_TEXT) and "1 image(s): image/png" in result.text


@pytest.mark.parametrize("name", ["openai", "anthropic", "google"])
def test_streams_carry_images_too(make_provider, server, name):
    events = list(make_provider(name).stream(_request()))
    assert events and request_images(
        {"openai": "openai", "anthropic": "anthropic", "google": "gemini"}[name], server.last.body
    )


def test_the_fake_server_refuses_a_malformed_image_as_the_providers_do(make_provider):
    broken = ChatRequest(
        model="test-model",
        messages=[ChatMessage("user", "look", (ImagePart("image/tiff", b"II*\x00"),))],
    )
    with pytest.raises(InvalidRequest):
        make_provider("openai", max_attempts=1).complete(broken)


def test_text_only_requests_stay_plain_strings(make_provider, server):
    make_provider("openai").complete(
        ChatRequest(model="test-model", messages=[ChatMessage("user", "hello")])
    )
    assert server.last.body["messages"][-1]["content"] == "hello"

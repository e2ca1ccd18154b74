"""A local HTTP server speaking the wire protocols of OpenAI, Anthropic and Gemini, and
of the two ``/rerank`` formats (Cohere/Jina-style and text-embeddings-inference).

It is the only stand-in for the real providers in the test-suite: the official SDKs talk
to it over real HTTP, so request building, SSE parsing and error mapping are exercised
exactly as in production. Each test scripts the answers it needs with `enqueue()`; with an
empty queue the server answers with a default text reply in the protocol of the route hit.
Besides the POST generation/embedding routes it serves the GET model listings (used for
credential checks); scripted replies apply to both. Every request is recorded (method, path,
query, headers, JSON body) for assertions.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

DEFAULT_TEXT = "Hello from the fake server."


@dataclass
class Reply:
    """One scripted answer.

    With `body` unset, a success in the wire format of the route that was hit is rendered
    from `text`/`usage`/`vectors`/`models`. With `status` >= 400 and no body, an error body in the
    provider's own format is rendered. `body` (bytes or JSON-able) is sent verbatim.
    """

    text: str = DEFAULT_TEXT
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    usage: tuple[int, int] | None = (11, 7)  # (prompt, completion); None = report no usage
    finish: str | None = None  # provider-specific default when None
    vectors: list[list[float]] | None = None
    models: list[str] | None = None  # model listings: ids to list (protocol default if None)
    delay: float = 0.0  # seconds before the response starts (timeouts)
    chunk_delay: float = 0.0  # streams: seconds between events (slow generation)
    cut_after: int | None = None  # streams: stop after N text chunks, skip terminal events
    # "abort": broken chunked body; "clean": well-formed but short; "error": the provider's
    # in-stream error event (e.g. Anthropic's overloaded_error) after the cut
    cut_mode: str = "abort"
    message: str = "scripted error"
    # /rerank: the score of each document, in request order (word overlap if None).
    scores: list[float] | None = None


def error(status: int, message: str = "scripted error", **headers: str) -> Reply:
    return Reply(
        status=status, message=message, headers={k.replace("_", "-"): v for k, v in headers.items()}
    )


def raw(body: bytes, status: int = 200, content_type: str = "application/json") -> Reply:
    return Reply(status=status, body=body, headers={"Content-Type": content_type})


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


_IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
_DATA_URL = re.compile(r"^data:(image/[a-z]+);base64,(.*)$", re.S)


def _decoded(media_type: str, data: str) -> tuple[str, bytes]:
    if media_type not in _IMAGE_TYPES:
        raise ValueError(f"Unsupported image type {media_type!r}.")
    try:
        return media_type, base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("Image data is not valid base64.") from None


def request_images(protocol: str, body: dict) -> list[tuple[str, bytes]]:
    """The images of a generation request, in each provider's own format: OpenAI
    ``image_url`` data URLs, Anthropic ``image`` blocks with a base64 source, Gemini
    ``inlineData`` parts. ValueError for a malformed one (the providers answer 400)."""
    images: list[tuple[str, bytes]] = []
    if protocol == "gemini":
        for content in body.get("contents") or []:
            for part in content.get("parts") or []:
                inline = part.get("inlineData") or part.get("inline_data")
                if inline:
                    media = inline.get("mimeType") or inline.get("mime_type") or ""
                    images.append(_decoded(media, inline.get("data") or ""))
        return images
    for message in body.get("messages") or []:
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for part in content:
            if protocol == "openai" and part.get("type") == "image_url":
                match = _DATA_URL.match((part.get("image_url") or {}).get("url") or "")
                if match is None:
                    raise ValueError("image_url must be a base64 data URL here.")
                images.append(_decoded(match.group(1), match.group(2)))
            elif protocol == "anthropic" and part.get("type") == "image":
                source = part.get("source") or {}
                if source.get("type") != "base64":
                    raise ValueError("Only base64 image sources are supported here.")
                images.append(_decoded(source.get("media_type") or "", source.get("data") or ""))
    return images


# (events before the text, one event per text chunk, terminal events)
StreamParts = tuple[list[str], list[str], list[str]]


def word_chunks(text: str) -> list[str]:
    return re.findall(r"\s*\S+\s*", text) or [text]


# --- protocol renderers ----------------------------------------------------------------------


class Protocol:
    name = "base"
    # Ids a model listing returns when the reply scripts none.
    default_models: tuple[str, ...] = ()

    def key_of(self, headers: dict[str, str], query: dict[str, str]) -> str | None:
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> dict:
        raise NotImplementedError

    def models(self, reply: Reply, query: dict) -> dict:
        raise NotImplementedError

    def stream_error(self, message: str) -> str:
        return _sse(self.error_body(503, message))

    def bad_key(self) -> tuple[int, dict]:
        return 401, self.error_body(401, "invalid x-api-key")


class OpenAIProtocol(Protocol):
    name = "openai"
    default_models = ("gpt-4o-mini", "text-embedding-3-small")

    def key_of(self, headers, query):
        auth = headers.get("authorization", "")
        return auth.removeprefix("Bearer ") if auth else None

    def error_body(self, status, message):
        kind = {401: "invalid_api_key", 429: "rate_limit_exceeded"}.get(status, "server_error")
        return {"error": {"message": message, "type": kind, "code": kind, "param": None}}

    def chat(self, reply: Reply, body: dict) -> dict:
        result = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "unknown"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.text},
                    "finish_reason": reply.finish or "stop",
                }
            ],
        }
        if reply.usage:
            result["usage"] = _openai_usage(reply.usage)
        return result

    def chat_stream(self, reply: Reply, body: dict) -> StreamParts:
        model = body.get("model", "unknown")

        def chunk(delta: dict, finish: str | None = None, **extra: Any) -> str:
            data = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
            return _sse(data)

        head = [chunk({"role": "assistant", "content": ""})]
        parts = [chunk({"content": piece}) for piece in word_chunks(reply.text)]
        tail = [chunk({}, reply.finish or "stop")]
        wants_usage = (body.get("stream_options") or {}).get("include_usage")
        if wants_usage and reply.usage:
            usage_chunk = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [],
                "usage": _openai_usage(reply.usage),
            }
            tail.append(_sse(usage_chunk))
        tail.append("data: [DONE]\n\n")
        return head, parts, tail

    def embeddings(self, reply: Reply, body: dict) -> dict:
        inputs = body.get("input")
        inputs = inputs if isinstance(inputs, list) else [inputs]
        vectors = reply.vectors or [_fake_vector(str(item)) for item in inputs]
        result = {
            "object": "list",
            "model": body.get("model", "unknown"),
            "data": [
                {"object": "embedding", "index": i, "embedding": vec}
                for i, vec in enumerate(vectors)
            ],
        }
        if reply.usage:
            result["usage"] = {"prompt_tokens": reply.usage[0], "total_tokens": reply.usage[0]}
        return result

    def models(self, reply: Reply, query: dict) -> dict:
        # GET /v1/models: one unpaged list.
        ids = reply.models if reply.models is not None else self.default_models
        data = [
            {"id": i, "object": "model", "created": 1_715_367_049, "owned_by": "system"}
            for i in ids
        ]
        return {"object": "list", "data": data}


class AnthropicProtocol(Protocol):
    name = "anthropic"
    default_models = ("claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001")

    def key_of(self, headers, query):
        # Older SDKs send x-api-key; current ones send the key as a bearer token.
        auth = headers.get("authorization", "")
        return headers.get("x-api-key") or (auth.removeprefix("Bearer ") if auth else None)

    def error_body(self, status, message):
        kind = {
            400: "invalid_request_error",
            401: "authentication_error",
            429: "rate_limit_error",
            529: "overloaded_error",
        }.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}

    def stream_error(self, message: str) -> str:
        return _sse(self.error_body(529, message), "error")

    def message(self, reply: Reply, body: dict) -> dict:
        prompt, completion = reply.usage or (0, 0)
        return {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "unknown"),
            "content": [{"type": "text", "text": reply.text}],
            "stop_reason": reply.finish or "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": prompt, "output_tokens": completion},
        }

    def message_stream(self, reply: Reply, body: dict) -> StreamParts:
        prompt, completion = reply.usage or (0, 0)
        start = {
            "type": "message_start",
            "message": {
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "model": body.get("model", "unknown"),
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": prompt, "output_tokens": 1},
            },
        }
        block = {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "text", "text": ""},
        }
        head = [
            _sse(start, "message_start"),
            _sse(block, "content_block_start"),
            _sse({"type": "ping"}, "ping"),
        ]
        parts = [
            _sse(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": p},
                },
                "content_block_delta",
            )
            for p in word_chunks(reply.text)
        ]
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": reply.finish or "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": completion},
        }
        tail = [
            _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
            _sse(delta, "message_delta"),
            _sse({"type": "message_stop"}, "message_stop"),
        ]
        return head, parts, tail

    def models(self, reply: Reply, query: dict) -> dict:
        # GET /v1/models: newest first, paged by `limit` (default 20) with has_more.
        ids = list(reply.models if reply.models is not None else self.default_models)
        page = ids[: _page_size(query.get("limit"), 20)]
        data = [
            {
                "type": "model",
                "id": i,
                "display_name": i.replace("-", " ").title(),
                "created_at": "2025-09-29T00:00:00Z",
                "lifecycle": "active",
            }
            for i in page
        ]
        return {
            "data": data,
            "has_more": len(page) < len(ids),
            "first_id": page[0] if page else None,
            "last_id": page[-1] if page else None,
        }


class GeminiProtocol(Protocol):
    name = "gemini"
    default_models = ("gemini-2.5-flash", "text-embedding-004")

    def key_of(self, headers, query):
        return headers.get("x-goog-api-key") or query.get("key")

    def error_body(self, status, message):
        kind = {
            400: "INVALID_ARGUMENT",
            401: "UNAUTHENTICATED",
            403: "PERMISSION_DENIED",
            429: "RESOURCE_EXHAUSTED",
            503: "UNAVAILABLE",
        }.get(status, "INTERNAL")
        return {"error": {"code": status, "message": message, "status": kind}}

    def bad_key(self) -> tuple[int, dict]:
        # What the real Gemini API does: 400 INVALID_ARGUMENT with reason API_KEY_INVALID.
        body = self.error_body(400, "API key not valid. Please pass a valid API key.")
        body["error"]["details"] = [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
        ]
        return 400, body

    def generate(
        self, reply: Reply, body: dict, *, text: str | None = None, final: bool = True
    ) -> dict:
        candidate: dict[str, Any] = {
            "content": {"parts": [{"text": reply.text if text is None else text}], "role": "model"},
            "index": 0,
        }
        if final:
            candidate["finishReason"] = reply.finish or "STOP"
        result: dict[str, Any] = {"candidates": [candidate], "modelVersion": "gemini-fake-001"}
        if final and reply.usage:
            prompt, completion = reply.usage
            result["usageMetadata"] = {
                "promptTokenCount": prompt,
                "candidatesTokenCount": completion,
                "totalTokenCount": prompt + completion,
            }
        return result

    def generate_stream(self, reply: Reply, body: dict) -> StreamParts:
        pieces = word_chunks(reply.text)
        parts = [_sse(self.generate(reply, body, text=p, final=False)) for p in pieces[:-1]]
        # Gemini puts finishReason and usage on the last content chunk itself.
        tail = [_sse(self.generate(reply, body, text=pieces[-1], final=True))]
        return [], parts, tail

    def embed(self, reply: Reply, body: dict, *, batch: bool) -> dict:
        contents = (
            [r["content"] for r in body.get("requests", [])] if batch else [body.get("content")]
        )
        texts = [" ".join(p.get("text", "") for p in (c or {}).get("parts", [])) for c in contents]
        vectors = reply.vectors or [_fake_vector(t) for t in texts]
        if batch:
            return {"embeddings": [{"values": v} for v in vectors]}
        return {"embedding": {"values": vectors[0]}}

    def models(self, reply: Reply, query: dict) -> dict:
        # GET /v1/models (or /v1beta/models): paged by `pageSize` (default 50) with nextPageToken.
        ids = list(reply.models if reply.models is not None else self.default_models)
        page = ids[: _page_size(query.get("pageSize"), 50)]
        models = [
            {
                "name": f"models/{i}",
                "version": "001",
                "displayName": i.replace("-", " ").title(),
                "inputTokenLimit": 1_048_576,
                "outputTokenLimit": 65_536,
                "supportedGenerationMethods": (
                    ["embedContent"] if "embedding" in i else ["generateContent", "countTokens"]
                ),
            }
            for i in page
        ]
        result: dict[str, Any] = {"models": models}
        if len(page) < len(ids):
            result["nextPageToken"] = "fake-next-page"
        return result


def _page_size(value: str | None, default: int) -> int:
    try:
        return max(1, int(value)) if value else default
    except ValueError:
        return default


def _openai_usage(usage: tuple[int, int]) -> dict:
    prompt, completion = usage
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _fake_vector(text: str) -> list[float]:
    # Deterministic and input-dependent, so tests can tell vectors apart.
    return [float(len(text)), float(sum(map(ord, text)) % 97), 1.0]


def _sse(data: Any, event: str | None = None) -> str:
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {json.dumps(data)}\n\n"


class RerankProtocol(Protocol):
    """``POST .../rerank``: Cohere/Jina-style ``{model, query, documents, top_n}`` ->
    ``{results: [{index, relevance_score}]}`` (best first, top_n of them), or
    text-embeddings-inference's ``{query, texts}`` -> ``[{index, score}]``."""

    name = "rerank"

    def key_of(self, headers, query):
        auth = headers.get("authorization", "")
        return auth.removeprefix("Bearer ") if auth else None

    def error_body(self, status, message):
        return {"message": message, "error": message}

    def rerank(self, reply: Reply, body: dict) -> tuple[int, Any]:
        tei = "texts" in body
        documents = body.get("texts" if tei else "documents")
        if not isinstance(body.get("query"), str) or not isinstance(documents, list):
            return 422, self.error_body(422, "query and documents are required")
        documents = [d if isinstance(d, str) else (d or {}).get("text", "") for d in documents]
        scores = reply.scores or [_overlap(body["query"], d) for d in documents]
        ranked = sorted(range(len(documents)), key=lambda i: -scores[i])
        if tei:
            return 200, [{"index": i, "score": scores[i]} for i in ranked]
        top_n = body.get("top_n") or len(documents)
        results = [{"index": i, "relevance_score": scores[i]} for i in ranked[:top_n]]
        return 200, {"id": "rerank-fake", "results": results, "meta": {"billed_units": {}}}


def _overlap(query: str, document: str) -> float:
    """The share of the query's words the document has: a deterministic stand-in score."""
    words = set(re.findall(r"\w+", query.lower()))
    found = set(re.findall(r"\w+", document.lower()))
    return round(len(words & found) / len(words), 6) if words else 0.0


# --- server ------------------------------------------------------------------------------------


class FakeProviderServer:
    def __init__(self, api_key: str | None = "test-key") -> None:
        # Requests with another key get the provider's "bad key" error; None accepts any.
        self.api_key = api_key
        self._default_key = api_key
        self.requests: list[Recorded] = []
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # lifecycle
    def start(self) -> FakeProviderServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def reset(self) -> None:
        """Forget requests and pending replies (the server is shared across tests)."""
        with self._lock:
            self.requests.clear()
            self._queue.clear()
        self.api_key = self._default_key

    # scripting
    def enqueue(self, *replies: Reply) -> None:
        with self._lock:
            self._queue.extend(replies)

    def _next_reply(self) -> Reply:
        with self._lock:
            return self._queue.popleft() if self._queue else Reply()

    @property
    def last(self) -> Recorded:
        return self.requests[-1]

    def _record(self, rec: Recorded) -> None:
        with self._lock:
            self.requests.append(rec)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(_Handler):
            fake = server

        return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeProviderServer

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass

    def do_POST(self) -> None:
        self._handle("POST")

    def do_GET(self) -> None:
        self._handle("GET")

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw_body) if raw_body else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        query = dict(parse_qsl(parts.query))
        self.fake._record(Recorded(method, parts.path, query, headers, body))
        # The client may have given up (e.g. its timeout fired): nothing left to answer.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._dispatch(method, parts.path, query, headers, body or {})

    def _dispatch(self, method: str, path: str, query: dict, headers: dict, body: dict) -> None:
        protocol, action = _route(path) if method == "POST" else _route_get(path, headers, query)
        if protocol is None:
            self._send_json(404, {"error": {"message": f"no route for {path}"}})
            return
        reply = self.fake._next_reply()
        if reply.delay and self.fake._stopping.wait(reply.delay):
            return
        if self.fake.api_key is not None and protocol.key_of(headers, query) != self.fake.api_key:
            self._send_json(*protocol.bad_key())
            return
        if reply.body is not None:
            self._send_raw(reply)
        elif reply.status >= 400:
            self._send_json(
                reply.status, protocol.error_body(reply.status, reply.message), reply.headers
            )
        else:
            self._send_success(protocol, action, reply, query, body)

    def _send_success(
        self, protocol: Protocol, action: str, reply: Reply, query: dict, body: dict
    ) -> None:
        if isinstance(protocol, RerankProtocol):
            self._send_json_whole(*protocol.rerank(reply, body), reply.headers)
            return
        if action not in ("models", "embeddings", "embedContent", "batchEmbedContents"):
            try:
                images = request_images(protocol.name, body)
            except ValueError as exc:  # as the providers do: 400 for a malformed image
                self._send_json(400, protocol.error_body(400, str(exc)))
                return
            if images and reply.text == DEFAULT_TEXT:
                # The default answer says what it was shown, so tests see images arrive.
                kinds = ", ".join(f"{media} ({len(data)} bytes)" for media, data in images)
                reply = replace(
                    reply, text=f"{DEFAULT_TEXT} I see {len(images)} image(s): {kinds}."
                )
        if action == "models":
            self._send_json(200, protocol.models(reply, query), reply.headers)
        elif isinstance(protocol, OpenAIProtocol):
            if action == "embeddings":
                self._send_json(200, protocol.embeddings(reply, body), reply.headers)
            elif body.get("stream"):
                self._send_stream(protocol, reply, protocol.chat_stream(reply, body))
            else:
                self._send_json(200, protocol.chat(reply, body), reply.headers)
        elif isinstance(protocol, AnthropicProtocol):
            if body.get("stream"):
                self._send_stream(protocol, reply, protocol.message_stream(reply, body))
            else:
                self._send_json(200, protocol.message(reply, body), reply.headers)
        elif isinstance(protocol, GeminiProtocol):
            if action == "streamGenerateContent":
                self._send_stream(protocol, reply, protocol.generate_stream(reply, body))
            elif action in ("embedContent", "batchEmbedContents"):
                batch = action == "batchEmbedContents"
                self._send_json(200, protocol.embed(reply, body, batch=batch), reply.headers)
            else:
                self._send_json(200, protocol.generate(reply, body), reply.headers)

    # low-level writers
    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_json_whole(
        self, status: int, payload: Any, headers: dict[str, str] | None = None
    ) -> None:
        """Headers and body in one write, as real servers send a small answer. Two writes
        meet the client's delayed ACK (Nagle): ~40 ms per request that no real reranker
        costs, which bench/rerank.py would otherwise measure."""
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self._headers_buffer.append(b"\r\n" + data)  # end_headers' blank line, then the body
        self.flush_headers()

    def _send_raw(self, reply: Reply) -> None:
        data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_stream(self, protocol: Protocol, reply: Reply, stream: StreamParts) -> None:
        head, parts, tail = stream
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.close_connection = True
        events = head + (parts if reply.cut_after is None else parts[: reply.cut_after])
        for event in events:
            self._write_chunk(event.encode())
            if reply.chunk_delay:
                time.sleep(reply.chunk_delay)
        if reply.cut_after is None:
            events = tail
        elif reply.cut_mode == "abort":
            return  # connection closes without the terminating chunk: a network cut
        elif reply.cut_mode == "error":
            events = [protocol.stream_error(reply.message)]
        else:
            events = []
        for event in events:
            self._write_chunk(event.encode())
        self.wfile.write(b"0\r\n\r\n")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


_PROTOCOLS = {
    "openai": OpenAIProtocol(),
    "anthropic": AnthropicProtocol(),
    "gemini": GeminiProtocol(),
    "rerank": RerankProtocol(),
}


def _route(path: str) -> tuple[Protocol | None, str]:
    if path.endswith("/chat/completions"):
        return _PROTOCOLS["openai"], "chat"
    if path.endswith("/embeddings"):
        return _PROTOCOLS["openai"], "embeddings"
    if path.endswith("/v1/messages"):
        return _PROTOCOLS["anthropic"], "messages"
    if path.endswith("/rerank"):
        return _PROTOCOLS["rerank"], "rerank"
    match = re.search(r"/models/[^/:]+:(\w+)$", path)
    if match:
        return _PROTOCOLS["gemini"], match.group(1)
    return None, ""


def _route_get(
    path: str, headers: dict[str, str], query: dict[str, str]
) -> tuple[Protocol | None, str]:
    """The model listings. OpenAI (base_url ".../v1"), Anthropic and Gemini (google-genai
    defaults to API version v1; v1beta when asked) may all use /v1/models, so the
    vendor-specific request headers tell them apart, as they would tell a real proxy."""
    if not path.endswith("/models"):
        return None, ""
    if "x-goog-api-key" in headers or "key" in query or path.endswith("/v1beta/models"):
        return _PROTOCOLS["gemini"], "models"
    if "anthropic-version" in headers:
        return _PROTOCOLS["anthropic"], "models"
    return _PROTOCOLS["openai"], "models"

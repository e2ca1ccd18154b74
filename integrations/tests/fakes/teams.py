"""A local stand-in for the Bot Framework as Teams uses it, over real HTTP: a token
issuer (an RSA key, its JWKS, and the JWTs it signs on incoming activities), the
client-credentials token endpoint a bot gets its app token from, and the connector
service (``serviceUrl``: reply, update, conversation member). The Agents SDK's own
clients talk to it; nothing of the SDK is replaced."""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

ISSUER = "https://api.botframework.com"


@dataclass
class Sent:
    """A bot activity as Teams shows it (its latest version)."""

    conversation: str
    id: str
    reply_to: str | None
    activity: dict
    versions: list = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.activity.get("text") or ""


class FakeTeams:
    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "fake-key-1"
        self.bots: dict[str, str] = {}  # app id -> client secret
        self.members: dict[str, dict] = {}  # user id -> {"email", "name"}
        self.sent: dict[str, Sent] = {}
        self.calls: list[tuple[str, str]] = []
        self.tokens: set[str] = set()
        # Conversations a proactive message may go to (empty: any); answers to give
        # the next POSTs to the connector instead of the real one: (status, headers).
        self.conversations: set[str] = set()
        self.post_failures: list[tuple[int, dict]] = []
        self._ids = itertools.count(1)
        self._server = None

    # -- the issuer ----------------------------------------------------------------

    def jwks(self) -> dict:
        public = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        public.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [public]}

    def token_for(self, *, app_id: str, service_url: str, issuer=ISSUER, key=None, expires=3600):
        now = int(time.time())
        claims = {
            "iss": issuer,
            "aud": app_id,
            "serviceurl": service_url,
            "nbf": now - 5,
            "iat": now - 5,
            "exp": now + expires,
        }
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": self.kid})

    # -- activities as Teams sends them ---------------------------------------------

    def activity(
        self,
        *,
        app_id,
        tenant_id,
        text,
        conversation_id,
        kind="channel",
        user="29:alice",
        value=None,
    ) -> dict:
        body = {
            "type": "message",
            "id": f"{int(time.time() * 1000)}{next(self._ids)}",
            "timestamp": "2026-11-30T20:00:00Z",
            "serviceUrl": self.service_url,
            "channelId": "msteams",
            "from": {
                "id": user,
                "name": self.members.get(user, {}).get("name", "Someone"),
                "aadObjectId": str(uuid.uuid4()),
            },
            "conversation": {
                "id": conversation_id,
                "conversationType": kind,
                "tenantId": tenant_id,
                "isGroup": kind != "personal",
            },
            "recipient": {"id": f"28:{app_id}", "name": "Assistant"},
            "text": text,
            "textFormat": "plain",
            "channelData": {"tenant": {"id": tenant_id}},
        }
        if kind == "channel":
            body["channelData"]["channel"] = {"id": conversation_id.split(";")[0]}
            body["channelData"]["team"] = {"id": "19:team@thread.tacv2"}
        if value is not None:
            body["value"] = value
            body.pop("text")
        return body

    # -- reading ---------------------------------------------------------------------

    def replies_in(self, conversation: str, kind="message") -> list[Sent]:
        return [
            s
            for s in self.sent.values()
            if s.conversation == conversation and s.activity.get("type") == kind
        ]

    def reset(self):
        self.sent.clear()
        self.calls.clear()
        self.members.clear()
        self.conversations.clear()
        self.post_failures.clear()

    # -- the server ----------------------------------------------------------------

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def service_url(self) -> str:
        return f"{self.base}/teams/"

    def start(self) -> FakeTeams:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _json(self, body, status=200):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def do_GET(self):
                path = urlsplit(self.path).path
                fake.calls.append(("GET", path))
                if path == "/jwks":
                    return self._json(fake.jwks())
                if not fake._authorized(self.headers):
                    return self._json({"error": {"code": "Unauthorized"}}, 401)
                match = re.match(r"^/teams/v3/conversations/(.+)/members/(.+)$", path)
                if match:
                    member = fake.members.get(unquote(match.group(2)))
                    if member is None:
                        return self._json({"error": {"code": "MemberNotFound"}}, 404)
                    return self._json(
                        {
                            "id": unquote(match.group(2)),
                            "name": member["name"],
                            "email": member["email"],
                            "userPrincipalName": member["email"],
                        }
                    )
                return self._json({"error": {"code": "NotFound"}}, 404)

            def do_POST(self):
                path = urlsplit(self.path).path
                raw = self._body()
                fake.calls.append(("POST", path))
                if path == "/token":
                    form = dict(parse_qsl(raw.decode()))
                    if fake.bots.get(form.get("client_id")) != form.get("client_secret"):
                        return self._json({"error": "invalid_client"}, 401)
                    token = f"app-token-{uuid.uuid4().hex}"
                    fake.tokens.add(token)
                    return self._json(
                        {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}
                    )
                if not fake._authorized(self.headers):
                    return self._json({"error": {"code": "Unauthorized"}}, 401)
                if fake.post_failures:  # (status, headers) answers to give first
                    status, headers = fake.post_failures.pop(0)
                    data = b'{"error": {"code": "Fake"}}'
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return None
                match = re.match(r"^/teams/v3/conversations/([^/]+)/activities$", path)
                if match:  # a proactive message: a new activity in the conversation
                    conversation = unquote(match.group(1))
                    if fake.conversations and conversation not in fake.conversations:
                        return self._json({"error": {"code": "ConversationNotFound"}}, 404)
                    new_id = f"bot-{next(fake._ids)}"
                    activity = json.loads(raw)
                    fake.sent[new_id] = Sent(conversation, new_id, None, activity, [activity])
                    return self._json({"id": new_id})
                match = re.match(r"^/teams/v3/conversations/(.+)/activities/([^/]+)$", path)
                if match:
                    conversation = unquote(match.group(1))
                    activity = json.loads(raw)
                    new_id = f"bot-{next(fake._ids)}"
                    fake.sent[new_id] = Sent(
                        conversation, new_id, unquote(match.group(2)), activity, [activity]
                    )
                    return self._json({"id": new_id})
                return self._json({"error": {"code": "NotFound"}}, 404)

            def do_PUT(self):
                path = urlsplit(self.path).path
                raw = self._body()
                fake.calls.append(("PUT", path))
                if not fake._authorized(self.headers):
                    return self._json({"error": {"code": "Unauthorized"}}, 401)
                match = re.match(r"^/teams/v3/conversations/(.+)/activities/([^/]+)$", path)
                sent = fake.sent.get(unquote(match.group(2))) if match else None
                if sent is None:
                    return self._json({"error": {"code": "NotFound"}}, 404)
                sent.activity = json.loads(raw)
                sent.versions.append(sent.activity)
                return self._json({"id": sent.id})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def _authorized(self, headers) -> bool:
        auth = headers.get("Authorization", "")
        return auth.startswith("Bearer ") and auth[7:] in self.tokens

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()

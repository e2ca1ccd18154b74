"""A local server speaking Slack's Web API and OAuth wire protocol (the one allowed
stand-in: slack-sdk's ``WebClient`` talks to it over real HTTP via ``base_url``), and
requests signed the way Slack signs its events.

State is a small workspace: users with e-mails, thread messages (for
``conversations.replies``), and every message the bot posts or streams, so tests read
what a person in Slack would see. Every call is recorded (method, arguments, token).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

SIGNING_SECRET = "fake-slack-signing-secret"
CLIENT_ID = "111.222"
CLIENT_SECRET = "fake-client-secret"


def sign(body: bytes, *, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict:
    """The headers Slack sends with a request: ``v0=HMAC-SHA256(v0:ts:body)``."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    base = f"v0:{timestamp}:".encode() + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "HTTP_X_SLACK_REQUEST_TIMESTAMP": str(timestamp),
        "HTTP_X_SLACK_SIGNATURE": f"v0={digest}",
    }


@dataclass
class Posted:
    """A message of the bot as Slack shows it."""

    channel: str
    ts: str
    thread_ts: str | None
    text: str = ""
    blocks: list = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
    streamed: bool = False
    appends: int = 0
    stopped: bool = False


@dataclass
class Workspace:
    team_id: str = "T0001"
    team_name: str = "Acme Slack"
    bot_user_id: str = "UBOT"
    bot_id: str = "B0001"
    bot_token: str = "xoxb-fake-token"
    users: dict = field(default_factory=dict)  # user id -> e-mail
    threads: dict = field(default_factory=dict)  # (channel, thread ts) -> [message]


class FakeSlack:
    def __init__(self):
        self.workspaces: dict[str, Workspace] = {}
        self.codes: dict[str, str] = {}  # OAuth code -> team id
        self.calls: list[tuple[str, dict, str | None]] = []
        self.posted: dict[str, Posted] = {}
        self.failures: dict[str, str] = {}  # method -> Slack error code
        # method -> seconds to wait before answering (after the work is done: a message
        # is posted, its answer late), once
        self.hold_seconds: dict[str, float] = {}
        # method -> answers to give first, in order: (HTTP status, headers, body)
        self.http_failures: dict[str, list[tuple[int, dict, dict]]] = {}
        # thread ts -> time.time() of the answer's first text (chat.startStream)
        self.first_text_at: dict[str, float] = {}
        self._ts = itertools.count(1)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- set-up --------------------------------------------------------------------

    def workspace(self, team_id="T0001", **fields) -> Workspace:
        ws = Workspace(team_id=team_id, **fields)
        self.workspaces[team_id] = ws
        return ws

    def oauth_code(self, team_id: str) -> str:
        code = f"code-{team_id}-{len(self.codes)}"
        self.codes[code] = team_id
        return code

    def say(self, ws: Workspace, *, channel: str, user: str, text: str, thread_ts=None) -> dict:
        """A person's message: stored in the thread (for conversations.replies) and
        returned as the ``event`` Slack would send."""
        ts = self.new_ts()
        root = thread_ts or ts
        self.threads_of(ws).setdefault((channel, root), []).append(
            {"type": "message", "user": user, "text": text, "ts": ts, "thread_ts": root}
        )
        event = {"type": "message", "user": user, "text": text, "ts": ts, "channel": channel}
        if thread_ts:
            event["thread_ts"] = thread_ts
        return event

    def threads_of(self, ws: Workspace) -> dict:
        return ws.threads

    def new_ts(self) -> str:
        with self._lock:
            # Slack's ts is the message's Unix time (what conversations.history's
            # ``oldest`` compares), made unique by the counter.
            return f"{int(time.time())}.{next(self._ts):06d}"

    # -- reading what happened -----------------------------------------------------

    def methods(self) -> list[str]:
        return [m for m, _, _ in self.calls]

    def replies_in(self, channel: str, thread_ts: str) -> list[Posted]:
        return [
            p for p in self.posted.values() if p.channel == channel and p.thread_ts == thread_ts
        ]

    def replies_in_thread(self, thread_ts: str) -> list[Posted]:
        return [p for p in list(self.posted.values()) if p.thread_ts == thread_ts]

    def reset(self) -> None:
        self.calls.clear()
        self.posted.clear()
        self.failures.clear()
        self.http_failures.clear()
        self.hold_seconds.clear()
        self.first_text_at.clear()

    # -- the server ----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/api/"

    def start(self) -> FakeSlack:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _args(self) -> dict:
                parts = urlsplit(self.path)
                args = dict(parse_qsl(parts.query))
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                kind = self.headers.get("Content-Type", "")
                if raw and "json" in kind:
                    args.update(json.loads(raw))
                elif raw:
                    args.update(dict(parse_qsl(raw.decode())))
                return args

            def _answer(self, body: dict, status: int = 200):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self.do_POST()

            def do_POST(self):
                method = urlsplit(self.path).path.removeprefix("/api/")
                args = self._args()
                auth = self.headers.get("Authorization", "")
                token = args.get("token")
                if auth.startswith("Bearer "):
                    token = auth.removeprefix("Bearer ")
                elif auth.startswith("Basic "):  # oauth.v2.access: the app's credentials
                    user, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
                    args.setdefault("client_id", user)
                    args.setdefault("client_secret", secret)
                with fake._lock:
                    fake.calls.append((method, args, token))
                if method in fake.failures:
                    return self._answer({"ok": False, "error": fake.failures[method]})
                if fake.http_failures.get(method):
                    status, headers, body = fake.http_failures[method].pop(0)
                    data = json.dumps(body).encode()
                    self.send_response(status)
                    for name, value in {"Content-Type": "application/json", **headers}.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return None
                handler = getattr(fake, "api_" + method.replace(".", "_"), None)
                if handler is None:
                    return self._answer({"ok": False, "error": "unknown_method"}, 404)
                try:
                    body = handler(args, token)
                except PermissionError as exc:
                    body = {"ok": False, "error": str(exc)}
                hold = fake.hold_seconds.pop(method, 0)
                if hold:
                    time.sleep(hold)
                return self._answer(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    # -- Web API methods -----------------------------------------------------------

    def _ws_of(self, token) -> Workspace:
        for ws in self.workspaces.values():
            if ws.bot_token == token:
                return ws
        raise PermissionError("invalid_auth")

    def api_oauth_v2_access(self, args, token):
        if args.get("client_id") != CLIENT_ID or args.get("client_secret") != CLIENT_SECRET:
            return {"ok": False, "error": "invalid_client_id"}
        team_id = self.codes.pop(args.get("code", ""), None)
        if team_id is None:
            return {"ok": False, "error": "invalid_code"}
        ws = self.workspaces[team_id]
        return {
            "ok": True,
            "app_id": "A0001",
            "access_token": ws.bot_token,
            "token_type": "bot",
            "scope": "app_mentions:read,chat:write,users:read,users:read.email",
            "bot_user_id": ws.bot_user_id,
            "team": {"id": ws.team_id, "name": ws.team_name},
            "enterprise": None,
            "is_enterprise_install": False,
            "authed_user": {"id": "UADMIN"},
        }

    def api_auth_test(self, args, token):
        ws = self._ws_of(token)
        return {"ok": True, "team_id": ws.team_id, "user_id": ws.bot_user_id, "bot_id": ws.bot_id}

    def api_users_info(self, args, token):
        ws = self._ws_of(token)
        email = ws.users.get(args.get("user"))
        profile = {"email": email} if email else {}
        return {"ok": True, "user": {"id": args.get("user"), "profile": profile}}

    def api_conversations_replies(self, args, token):
        ws = self._ws_of(token)
        messages = ws.threads.get((args.get("channel"), args.get("ts")), [])
        return {"ok": True, "messages": list(messages), "has_more": False}

    def api_assistant_threads_setSuggestedPrompts(self, args, token):
        self._ws_of(token)
        if not args.get("prompts"):
            return {"ok": False, "error": "invalid_arguments"}
        return {"ok": True}

    def api_assistant_threads_setStatus(self, args, token):
        self._ws_of(token)
        return {"ok": True}

    @staticmethod
    def _text(args) -> str:
        """markdown_text, or the markdown chunks slack-sdk's ChatStream sends."""
        chunks = args.get("chunks") or []
        if isinstance(chunks, str):
            chunks = json.loads(chunks)
        parts = [c.get("text", "") for c in chunks if c.get("type") == "markdown_text"]
        return (args.get("markdown_text") or "") + "".join(parts)

    def _post(self, ws, args, **fields) -> Posted:
        ts = self.new_ts()
        blocks = args.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        metadata = args.get("metadata") or {}
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        posted = Posted(
            channel=args["channel"],
            ts=ts,
            thread_ts=args.get("thread_ts"),
            text=args.get("text") or self._text(args),
            blocks=blocks,
            metadata=metadata,
            **fields,
        )
        self.posted[ts] = posted
        if posted.thread_ts:
            ws.threads.setdefault((posted.channel, posted.thread_ts), []).append(
                {"bot_id": ws.bot_id, "text": posted.text, "ts": ts}
            )
        return posted

    def api_chat_postMessage(self, args, token):
        ws = self._ws_of(token)
        posted = self._post(ws, args)
        return {"ok": True, "channel": posted.channel, "ts": posted.ts}

    def in_channel(self, channel: str) -> list[Posted]:
        """The bot's messages at the top of a channel (not in threads), oldest first."""
        return [p for p in list(self.posted.values()) if p.channel == channel and not p.thread_ts]

    def api_conversations_history(self, args, token):
        """The channel's top-level messages, newest first; metadata only when asked."""
        ws = self._ws_of(token)
        oldest = float(args.get("oldest") or 0)
        with_metadata = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        messages = []
        for posted in reversed(self.in_channel(args.get("channel", ""))):
            if float(posted.ts) < oldest:
                continue
            message = {"type": "message", "bot_id": ws.bot_id, "text": posted.text,
                       "ts": posted.ts}  # fmt: skip
            if with_metadata and posted.metadata:
                message["metadata"] = posted.metadata
            messages.append(message)
        return {"ok": True, "messages": messages, "has_more": False}

    def api_chat_postEphemeral(self, args, token):
        self._ws_of(token)
        return {"ok": True, "message_ts": self.new_ts()}

    def api_chat_startStream(self, args, token):
        ws = self._ws_of(token)
        if args.get("channel", "").startswith("C") and not (
            args.get("recipient_team_id") and args.get("recipient_user_id")
        ):
            return {"ok": False, "error": "missing_recipient_user_id"}
        posted = self._post(ws, args, streamed=True)
        if posted.text:
            self.first_text_at.setdefault(posted.thread_ts, time.time())
        return {"ok": True, "channel": posted.channel, "ts": posted.ts}

    def api_chat_appendStream(self, args, token):
        self._ws_of(token)
        posted = self.posted.get(args.get("ts"))
        if posted is None or posted.stopped:
            return {"ok": False, "error": "message_not_in_streaming_state"}
        posted.text += self._text(args)
        posted.appends += 1
        if posted.text:
            self.first_text_at.setdefault(posted.thread_ts, time.time())
        return {"ok": True, "channel": posted.channel, "ts": posted.ts}

    def api_chat_stopStream(self, args, token):
        self._ws_of(token)
        posted = self.posted.get(args.get("ts"))
        if posted is None or posted.stopped:
            return {"ok": False, "error": "message_not_in_streaming_state"}
        posted.text += self._text(args)
        blocks = args.get("blocks") or []
        posted.blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
        posted.stopped = True
        return {"ok": True, "channel": posted.channel, "ts": posted.ts}

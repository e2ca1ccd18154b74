"""A local server speaking Google's OAuth 2.0 token endpoint and the Gmail API's wire
protocol (the one allowed stand-in: google-auth-oauthlib, google-auth and
google-api-python-client talk to it over real HTTP, built from their bundled discovery
document with ``api_endpoint`` pointing here).

Endpoints, with Google's JSON and error shapes:

- ``GET /o/oauth2/auth``: the consent page, answered for the mailbox ``consent_as``
  names by redirecting to ``redirect_uri`` with a code (the member clicked "Allow");
- ``POST /token``: ``authorization_code`` (client credentials, redirect URI and the
  PKCE S256 verifier checked) and ``refresh_token`` grants;
- ``/gmail/v1/users/me/``: ``profile``, ``labels``, ``threads`` (list by label, pages),
  ``threads/{id}`` (format=full), ``history`` (since a history id, by label; 404 when
  the id is older than the mailbox keeps), ``drafts`` (create).

A mailbox is driven from Python: ``receive`` (a new message, in a new or an existing
thread), ``delete_thread``, ``label_remove``. Every change bumps the mailbox's history
id and is recorded as Gmail's history records are.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email import policy as email_policy
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

CLIENT_ID = "fake-client.apps.googleusercontent.com"
CLIENT_SECRET = "fake-google-client-secret"
SYSTEM_LABELS = ("INBOX", "SENT", "TRASH", "UNREAD")


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@dataclass
class Mailbox:
    email: str
    labels: dict = field(default_factory=dict)  # id -> {"id", "name", "type"}
    messages: dict = field(default_factory=dict)  # id -> message dict (format=full)
    history: list = field(default_factory=list)  # Gmail history records
    history_id: int = 1000
    oldest_history_id: int = 1000
    drafts: list = field(default_factory=list)  # {"id", "message": {"threadId", "raw"}}

    def __post_init__(self):
        for name in SYSTEM_LABELS:
            self.labels[name] = {"id": name, "name": name, "type": "system"}


class FakeGoogle:
    def __init__(self):
        self.mailboxes: dict[str, Mailbox] = {}
        self.codes: dict[str, dict] = {}
        self.refresh_tokens: dict[str, tuple[str, list[str]]] = {}
        self.access_tokens: dict[str, str] = {}
        self.issued: list[str] = []  # every code and token ever issued (revoked ones too)
        self.requests: list[dict] = []  # method, path, query, authorization
        self.consent_as: str | None = None  # the mailbox the consent page answers for
        self.grant_scopes: list[str] | None = None  # None: what was asked
        self._ids = itertools.count(0x18C0000000000000)
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None

    # -- set-up and driving ---------------------------------------------------------

    def mailbox(self, email: str) -> Mailbox:
        box = Mailbox(email=email)
        self.mailboxes[email] = box
        return box

    def label(self, box: Mailbox, name: str) -> str:
        label_id = f"Label_{len(box.labels)}"
        box.labels[label_id] = {"id": label_id, "name": name, "type": "user"}
        return label_id

    def _new_id(self) -> str:
        return format(next(self._ids), "x")

    def _bump(self, box: Mailbox, **record) -> None:
        box.history_id += 7
        box.history.append({"id": str(box.history_id), **record})

    def receive(
        self,
        box: Mailbox,
        *,
        sender: str,
        subject: str,
        body: str,
        labels: list[str],
        thread_id: str | None = None,
        html: bool = False,
    ) -> dict:
        """A message arrives (in ``thread_id``, or a new thread)."""
        with self._lock:
            message_id = self._new_id()
            thread_id = thread_id or message_id
            when = datetime(2026, 11, 1, 9, 0, tzinfo=UTC) + timedelta(minutes=len(box.messages))
            headers = [
                {"name": "From", "value": sender},
                {"name": "To", "value": box.email},
                {"name": "Subject", "value": subject},
                {"name": "Date", "value": format_datetime(when)},
                {"name": "Message-ID", "value": f"<{message_id}@mail.example.test>"},
            ]
            parts = [{"partId": "0", "mimeType": "text/plain", "body": {"data": _b64(body)}}]
            if html:
                parts = [
                    {
                        "partId": "0",
                        "mimeType": "text/html",
                        "body": {"data": _b64(f"<p>{body}</p>")},
                    }
                ]
            box.history_id += 7
            message = {
                "id": message_id,
                "threadId": thread_id,
                "labelIds": list(labels),
                "snippet": body[:100],
                "historyId": str(box.history_id),
                "internalDate": str(int(when.timestamp() * 1000)),
                "sizeEstimate": len(body),
                "payload": {
                    "partId": "",
                    "mimeType": "multipart/alternative",
                    "headers": headers,
                    "body": {"size": 0},
                    "parts": parts,
                },
            }
            box.messages[message_id] = message
            box.history.append(
                {
                    "id": str(box.history_id),
                    "messages": [{"id": message_id, "threadId": thread_id}],
                    "messagesAdded": [{"message": self._short(message)}],
                }
            )
            return message

    @staticmethod
    def _short(message: dict) -> dict:
        return {k: message[k] for k in ("id", "threadId", "labelIds")}

    def delete_thread(self, box: Mailbox, thread_id: str) -> None:
        """Deleted for good (users.threads.delete): its messages are gone."""
        with self._lock:
            gone = [m for m in box.messages.values() if m["threadId"] == thread_id]
            for message in gone:
                del box.messages[message["id"]]
            self._bump(box, messagesDeleted=[{"message": self._short(m)} for m in gone])

    def label_remove(self, box: Mailbox, thread_id: str, label_id: str) -> None:
        with self._lock:
            changed = []
            for message in box.messages.values():
                if message["threadId"] == thread_id and label_id in message["labelIds"]:
                    message["labelIds"].remove(label_id)
                    changed.append(message)
            self._bump(
                box,
                labelsRemoved=[
                    {
                        "message": {**self._short(m), "labelIds": m["labelIds"]},
                        "labelIds": [label_id],
                    }
                    for m in changed
                ],
            )

    def forget_history(self, box: Mailbox) -> None:
        """Gmail keeps history for a limited time: older ids answer 404."""
        box.oldest_history_id = box.history_id

    def drafts_of(self, box: Mailbox) -> list[dict]:
        """Drafts with their MIME message parsed (``message`` is an email.message)."""
        out = []
        for draft in box.drafts:
            raw = draft["message"]["raw"]
            parsed = message_from_bytes(
                base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)), policy=email_policy.default
            )
            out.append({**draft, "parsed": parsed})
        return out

    def reset(self) -> None:
        self.mailboxes.clear()
        self.codes.clear()
        self.refresh_tokens.clear()
        self.access_tokens.clear()
        self.issued.clear()
        self.requests.clear()
        self.consent_as = None
        self.grant_scopes = None

    def tokens(self) -> list[str]:
        """Every token this server issued (what must never appear in logs)."""
        return [*self.refresh_tokens, *self.access_tokens, *self.codes]

    # -- the server -------------------------------------------------------------------

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeGoogle:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _answer(self, body: dict, status: int = 200, headers: dict | None = None):
                data = json.dumps(body).encode()
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def do_GET(self):
                self._dispatch("GET")

            def do_POST(self):
                self._dispatch("POST")

            def _dispatch(self, method: str):
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                raw = self._body()
                with fake._lock:
                    fake.requests.append(
                        {
                            "method": method,
                            "path": parts.path,
                            "query": query,
                            "authorization": self.headers.get("Authorization", ""),
                        }
                    )
                try:
                    if parts.path == "/o/oauth2/auth":
                        location = fake.consent(query)
                        self.send_response(302)
                        self.send_header("Location", location)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    if parts.path == "/token" and method == "POST":
                        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                        auth = self.headers.get("Authorization", "")
                        if auth.startswith("Basic "):
                            user, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
                            form.setdefault("client_id", user)
                            form.setdefault("client_secret", secret)
                        status, body = fake.token(form)
                        return self._answer(body, status)
                    prefix = "/gmail/v1/users/me/"
                    if not parts.path.startswith(prefix):
                        return self._answer(_error(404, "Not Found", "NOT_FOUND"), 404)
                    box = fake.mailbox_for(self.headers.get("Authorization", ""))
                    if box is None:
                        return self._answer(
                            _error(
                                401,
                                "Request had invalid authentication credentials.",
                                "UNAUTHENTICATED",
                            ),
                            401,
                            {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
                        )
                    body = json.loads(raw) if raw else {}
                    status, answer = fake.gmail(
                        box, method, parts.path.removeprefix(prefix), query, body
                    )
                    return self._answer(answer, status)
                except Exception as exc:
                    return self._answer(_error(500, repr(exc), "INTERNAL"), 500)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    # -- OAuth --------------------------------------------------------------------------

    def consent(self, query: dict) -> str:
        """The member allows access: a code for ``consent_as``, back to the redirect URI."""
        first = {k: v[0] for k, v in query.items()}
        redirect, state = first["redirect_uri"], first.get("state", "")
        if self.consent_as is None or first.get("client_id") != CLIENT_ID:
            return f"{redirect}?{urlencode({'error': 'access_denied', 'state': state})}"
        code = self.authorize(first, email=self.consent_as)
        return f"{redirect}?{urlencode({'code': code, 'state': state, 'scope': first['scope']})}"

    def authorize(self, params: dict, *, email: str) -> str:
        """What Google does when the member clicks Allow: a one-time code bound to the
        client, the redirect URI, the PKCE challenge and the granted scopes."""
        assert params.get("access_type") == "offline"
        code = "4/0A" + secrets.token_urlsafe(24)
        self.issued.append(code)
        scopes = self.grant_scopes or params["scope"].split()
        self.codes[code] = {
            "email": email,
            "redirect_uri": params["redirect_uri"],
            "challenge": params.get("code_challenge"),
            "method": params.get("code_challenge_method"),
            "scopes": scopes,
        }
        return code

    def token(self, form: dict) -> tuple[int, dict]:
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return 401, {"error": "invalid_client", "error_description": "Unauthorized"}
        grant = form.get("grant_type")
        if grant == "authorization_code":
            issued = self.codes.pop(form.get("code", ""), None)
            if issued is None or issued["redirect_uri"] != form.get("redirect_uri"):
                return 400, {"error": "invalid_grant", "error_description": "Bad Request"}
            verifier = form.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            if issued["challenge"] and digest.decode().rstrip("=") != issued["challenge"]:
                return 400, {
                    "error": "invalid_grant",
                    "error_description": "Invalid code verifier.",
                }
            refresh = "1//0g" + secrets.token_urlsafe(32)
            self.issued.append(refresh)
            self.refresh_tokens[refresh] = (issued["email"], issued["scopes"])
            return 200, self._access(issued["email"], issued["scopes"], refresh=refresh)
        if grant == "refresh_token":
            known = self.refresh_tokens.get(form.get("refresh_token", ""))
            if known is None:
                return 400, {
                    "error": "invalid_grant",
                    "error_description": "Token has been expired or revoked.",
                }
            return 200, self._access(*known)
        return 400, {"error": "unsupported_grant_type"}

    def _access(self, email: str, scopes: list[str], refresh: str | None = None) -> dict:
        access = "ya29." + secrets.token_urlsafe(32)
        self.issued.append(access)
        self.access_tokens[access] = email
        body = {
            "access_token": access,
            "expires_in": 3599,
            "scope": " ".join(scopes),
            "token_type": "Bearer",
        }
        if refresh:
            body["refresh_token"] = refresh
        return body

    def revoke(self, email: str) -> None:
        """The member removed the app's access in their Google account."""
        for token, (owner, _) in list(self.refresh_tokens.items()):
            if owner == email:
                del self.refresh_tokens[token]
        for token, owner in list(self.access_tokens.items()):
            if owner == email:
                del self.access_tokens[token]

    def mailbox_for(self, authorization: str) -> Mailbox | None:
        email = self.access_tokens.get(authorization.removeprefix("Bearer "))
        return self.mailboxes.get(email) if email else None

    # -- Gmail API ---------------------------------------------------------------------

    def gmail(self, box: Mailbox, method: str, path: str, query: dict, body: dict):
        one = {k: v[0] for k, v in query.items()}
        with self._lock:
            if path == "profile":
                return 200, {
                    "emailAddress": box.email,
                    "messagesTotal": len(box.messages),
                    "threadsTotal": len({m["threadId"] for m in box.messages.values()}),
                    "historyId": str(box.history_id),
                }
            if path == "labels":
                return 200, {"labels": list(box.labels.values())}
            if path == "threads" and method == "GET":
                return 200, self._threads_list(box, query, one)
            if path.startswith("threads/") and method == "GET":
                thread = self._thread(box, path.removeprefix("threads/"))
                if thread is None:
                    return 404, _error(404, "Requested entity was not found.", "NOT_FOUND")
                return 200, thread
            if path == "history":
                return self._history(box, one)
            if path == "drafts" and method == "POST":
                message = body.get("message") or {}
                if not message.get("raw"):
                    return 400, _error(400, "Invalid draft", "INVALID_ARGUMENT")
                draft = {
                    "id": "r" + str(next(self._ids)),
                    "message": {
                        "id": self._new_id(),
                        "threadId": message.get("threadId") or "",
                        "labelIds": ["DRAFT"],
                        "raw": message["raw"],
                    },
                }
                box.drafts.append(draft)
                return 200, {
                    "id": draft["id"],
                    "message": {k: draft["message"][k] for k in ("id", "threadId", "labelIds")},
                }
        return 404, _error(404, "Not Found", "NOT_FOUND")

    def _thread_ids(self, box: Mailbox, label_ids: list[str]) -> list[str]:
        order: dict[str, int] = {}
        for message in box.messages.values():
            if all(label in message["labelIds"] for label in label_ids):
                order[message["threadId"]] = max(
                    order.get(message["threadId"], 0), int(message["historyId"])
                )
        return sorted(order, key=lambda t: -order[t])  # newest first, as Gmail lists

    def _thread(self, box: Mailbox, thread_id: str) -> dict | None:
        messages = [m for m in box.messages.values() if m["threadId"] == thread_id]
        if not messages:
            return None
        return {
            "id": thread_id,
            "historyId": str(max(int(m["historyId"]) for m in messages)),
            "messages": json.loads(json.dumps(messages)),
        }

    def _threads_list(self, box: Mailbox, query: dict, one: dict) -> dict:
        ids = self._thread_ids(box, query.get("labelIds", []))
        start = int(one.get("pageToken") or 0)
        size = int(one.get("maxResults") or 100)
        page = ids[start : start + size]
        threads = []
        for thread_id in page:
            thread = self._thread(box, thread_id)
            threads.append(
                {
                    "id": thread_id,
                    "snippet": thread["messages"][-1]["snippet"],
                    "historyId": thread["historyId"],
                }
            )
        answer = {"threads": threads, "resultSizeEstimate": len(ids)}
        if start + size < len(ids):
            answer["nextPageToken"] = str(start + size)
        return answer

    def _history(self, box: Mailbox, one: dict) -> tuple[int, dict]:
        start = int(one.get("startHistoryId") or 0)
        if start < box.oldest_history_id:
            return 404, _error(404, "Requested entity was not found.", "NOT_FOUND")
        label = one.get("labelId")
        records = []
        for record in box.history:
            if int(record["id"]) <= start:
                continue
            if label and not self._touches(record, label):
                continue
            records.append(record)
        answer = {"historyId": str(box.history_id)}
        if records:
            answer["history"] = records
        return 200, answer

    @staticmethod
    def _touches(record: dict, label: str) -> bool:
        for kind in ("messagesAdded", "messagesDeleted", "labelsAdded", "labelsRemoved"):
            for change in record.get(kind) or []:
                if label in change["message"].get("labelIds", []) or label in change.get(
                    "labelIds", []
                ):
                    return True
        return False


def _error(code: int, message: str, status: str) -> dict:
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": status.lower()}],
            "status": status,
        }
    }

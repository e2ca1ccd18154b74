"""A local Stripe API speaking Stripe's wire protocol, for tests and benchmarks.

The one allowed stand-in: the official ``stripe`` SDK talks to it over HTTP
(``STRIPE_API_BASE``). Requests are form-encoded with Stripe's bracket notation,
authenticated with a bearer secret key, and honour ``Idempotency-Key`` (a replay
answers the first response; other parameters under the same key are refused),
as Stripe does. Objects start from Stripe's own examples in its OpenAPI fixtures
(``fixtures3.json``, vendored from github.com/stripe/openapi) with the fields this
platform reads filled in. Errors have Stripe's shape:
``{"error": {"type", "code", "message", "param"}}``.

Endpoints: customers (create, retrieve, delete), checkout sessions (create,
retrieve), billing portal sessions (create), subscriptions (retrieve, list,
update), invoices (list), billing meter events (create).

What a customer does in Stripe's pages (pay at Checkout, a card declined, cancel
in the portal) is driven from Python: ``checkout_complete``, ``invoice_fail``...
Each returns the events Stripe would send; ``event_signature`` signs a payload
exactly as Stripe signs webhooks (``t=<unix>,v1=<HMAC-SHA256 of "t.payload">``).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import urllib.request
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

FIXTURES = json.loads((Path(__file__).with_name("fixtures3.json")).read_text())["resources"]
API_VERSION = "2026-10-28.endive"
# Stripe accepts meter events up to 35 days old and 5 minutes ahead.
METER_MAX_AGE = 35 * 24 * 3600
METER_MAX_AHEAD = 5 * 60


def event_signature(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe sends with ``payload``."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def decode_form(pairs: list[tuple[str, str]]) -> dict:
    """Stripe's bracket notation (``items[0][price]=p``) to nested dicts and lists."""
    root: dict = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+|\[\]", key)
        node = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return _lists(root)


def _lists(node):
    if isinstance(node, dict):
        node = {k: _lists(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
    return node


class StripeError(Exception):
    def __init__(
        self, status: int, message: str, *, type_="invalid_request_error", code=None, param=None
    ):
        super().__init__(message)
        self.status, self.type, self.code, self.param = status, type_, code, param

    def body(self) -> dict:
        error = {"type": self.type, "message": str(self)}
        if self.code:
            error["code"] = self.code
        if self.param:
            error["param"] = self.param
        return {"error": error}


def _missing(kind: str, ident: str, param: str = "id") -> StripeError:
    return StripeError(404, f"No such {kind}: '{ident}'", code="resource_missing", param=param)


class FakeStripe:
    def __init__(self, *, api_key: str = "sk_test_local", webhook_secret: str = "whsec_local"):  # noqa: S107
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        # Where the hosted Checkout page delivers its events (as Stripe's webhook would).
        self.webhook_url = ""
        self.reset()

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> FakeStripe:
        fake = self

        class Handler(_Handler):
            stripe = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.meter_gate.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def reset(self) -> None:
        with self.lock:
            self.prices: dict[str, dict] = {}
            self.customers: dict[str, dict] = {}
            self.sessions: dict[str, dict] = {}
            self.subscriptions: dict[str, dict] = {}
            self.invoices: dict[str, dict] = {}
            self.meter_events: dict[str, dict] = {}  # by identifier
            self.meter_names: set[str] = {"ai_tokens"}
            self.idempotency: dict[str, tuple[str, int, bytes]] = {}
            self.requests: list[tuple[str, str]] = []
            self.replays = 0
            self.faults: dict[str, list[int]] = defaultdict(list)
            # Cleared: meter event requests are recorded, then held unanswered until
            # set (a client that dies meanwhile never learns the event was counted).
            self.meter_gate = threading.Event()
            self.meter_gate.set()
            self.meter_held = threading.Event()

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{secrets.token_hex(12)}"

    # -- configuration by the test ----------------------------------------------

    def price_create(
        self,
        price_id: str,
        *,
        unit_amount: int | None = None,
        interval="month",
        usage_type="licensed",
    ) -> dict:
        price = copy.deepcopy(FIXTURES["price"])
        price.update(
            id=price_id,
            unit_amount=unit_amount,
            currency="usd",
            type="recurring",
            unit_amount_decimal=None if unit_amount is None else str(unit_amount),
            recurring={
                "interval": interval,
                "interval_count": 1,
                "usage_type": usage_type,
                "meter": "mtr_ai_tokens" if usage_type == "metered" else None,
                "trial_period_days": None,
            },
        )
        with self.lock:
            self.prices[price_id] = price
        return price

    def fail_next(self, path_prefix: str, status: int = 500, times: int = 1) -> None:
        """The next ``times`` requests under ``path_prefix`` answer ``status``."""
        with self.lock:
            self.faults[path_prefix].extend([status] * times)

    # -- what customers do in Stripe's pages -> the events Stripe sends ------------

    def event(self, type_: str, obj: dict, previous: dict | None = None) -> dict:
        event = copy.deepcopy(FIXTURES["event"])
        event.update(
            id=self._id("evt"),
            type=type_,
            api_version=API_VERSION,
            created=int(time.time()),
            livemode=False,
            pending_webhooks=1,
            data={"object": copy.deepcopy(obj)},
        )
        if previous:
            event["data"]["previous_attributes"] = previous
        return event

    def checkout_complete(
        self, session_id: str, *, trial_days: int = 0, started_days_ago: float = 0
    ) -> list[dict]:
        """The customer pays at Checkout: a subscription and its first paid invoice
        (``started_days_ago``: as if that happened in the past, for usage tests)."""
        with self.lock:
            session = self.sessions[session_id]
            sub = self.subscription_seed(
                session["customer"],
                session["_line_items"],
                trial_days=trial_days,
                started_days_ago=started_days_ago,
                metadata=dict(session.get("_subscription_metadata") or {}),
            )
            session.update(status="complete", payment_status="paid", subscription=sub["id"])
            invoice = self._invoice(sub, status="paid", billing_reason="subscription_create")
            sub["latest_invoice"] = invoice["id"]
            return [
                self.event("customer.subscription.created", sub),
                self.event("checkout.session.completed", self._public(session)),
                self.event("invoice.paid", invoice),
            ]

    def customer_seed(self, **fields) -> dict:
        """A customer made directly (benchmarks: a thousand of them without requests)."""
        with self.lock:
            return self._customer_create(fields)

    def subscription_seed(
        self,
        customer_id: str,
        line_items: list[dict],
        *,
        trial_days=0,
        started_days_ago: float = 0,
        metadata=None,
    ) -> dict:
        """A subscription of ``customer_id`` to the prices of ``line_items``."""
        with self.lock:
            now = int(time.time() - started_days_ago * 86400)
            items = []
            for line in line_items:
                price = self.prices[line["price"]]
                item = copy.deepcopy(FIXTURES["subscription_item"])
                item.update(
                    id=self._id("si"),
                    price=copy.deepcopy(price),
                    quantity=line.get("quantity"),
                    current_period_start=now,
                    current_period_end=now + 30 * 86400,
                    created=now,
                    metadata={},
                )
                items.append(item)
            sub = copy.deepcopy(FIXTURES["subscription"])
            sub.update(
                id=self._id("sub"),
                customer=customer_id,
                created=now,
                start_date=now,
                status="trialing" if trial_days else "active",
                cancel_at_period_end=False,
                cancel_at=None,
                canceled_at=None,
                ended_at=None,
                latest_invoice=None,
                trial_start=now if trial_days else None,
                trial_end=now + trial_days * 86400 if trial_days else None,
                metadata=metadata or {},
            )
            for item in items:
                item["subscription"] = sub["id"]
            sub["items"] = {
                "object": "list",
                "data": items,
                "has_more": False,
                "url": f"/v1/subscription_items?subscription={sub['id']}",
            }
            self.subscriptions[sub["id"]] = sub
            return sub

    def _invoice(self, sub: dict, *, status: str, billing_reason: str) -> dict:
        invoice = copy.deepcopy(FIXTURES["invoice"])
        flat = sum(i["price"]["unit_amount"] or 0 for i in sub["items"]["data"])
        period_start = sub["items"]["data"][0]["current_period_start"]
        invoice.update(
            id=self._id("in"),
            customer=sub["customer"],
            status=status,
            billing_reason=billing_reason,
            created=int(time.time()),
            total=flat,
            subtotal=flat,
            amount_due=flat,
            amount_paid=flat if status == "paid" else 0,
            amount_remaining=0 if status == "paid" else flat,
            attempted=True,
            number=f"INV-{len(self.invoices) + 1:04d}",
            currency="usd",
            period_start=period_start,
            period_end=period_start,
            hosted_invoice_url=f"{self.url}/invoices/{len(self.invoices) + 1}",
            invoice_pdf=f"{self.url}/invoices/{len(self.invoices) + 1}/pdf",
            parent={
                "type": "subscription_details",
                "quote_details": None,
                "subscription_details": {"subscription": sub["id"], "metadata": {}},
            },
        )
        self.invoices[invoice["id"]] = invoice
        return invoice

    def invoice_fail(self, sub_id: str) -> list[dict]:
        """The renewal's card is declined: the subscription becomes past_due."""
        with self.lock:
            sub = self.subscriptions[sub_id]
            invoice = self._invoice(sub, status="open", billing_reason="subscription_cycle")
            sub.update(status="past_due", latest_invoice=invoice["id"])
            return [
                self.event("invoice.payment_failed", invoice),
                self.event("customer.subscription.updated", sub, {"status": "active"}),
            ]

    def invoice_pay(self, sub_id: str) -> list[dict]:
        """The customer fixes the card; the open invoice is paid."""
        with self.lock:
            sub = self.subscriptions[sub_id]
            invoice = self.invoices[sub["latest_invoice"]]
            invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0)
            sub["status"] = "active"
            return [
                self.event("invoice.paid", invoice),
                self.event("customer.subscription.updated", sub, {"status": "past_due"}),
            ]

    def subscription_cancel(self, sub_id: str, *, at_period_end: bool = False) -> list[dict]:
        """Cancelled in the portal: at period end (still active), or now."""
        with self.lock:
            sub = self.subscriptions[sub_id]
            if at_period_end:
                sub["cancel_at_period_end"] = True
                return [self.event("customer.subscription.updated", sub)]
            sub.update(status="canceled", canceled_at=int(time.time()), ended_at=int(time.time()))
            return [self.event("customer.subscription.deleted", sub)]

    def customer_delete(self, customer_id: str) -> list[dict]:
        with self.lock:
            customer = self.customers.pop(customer_id)
            events = []
            for sub in self.subscriptions.values():
                if sub["customer"] == customer_id and sub["status"] != "canceled":
                    sub.update(status="canceled", canceled_at=int(time.time()))
                    events.append(self.event("customer.subscription.deleted", sub))
            return [*events, self.event("customer.deleted", {**customer, "deleted": True})]

    # -- what Stripe counted -------------------------------------------------------

    def meter_total(self, customer_id: str) -> int:
        with self.lock:
            return sum(
                int(e["payload"]["value"])
                for e in self.meter_events.values()
                if e["payload"]["stripe_customer_id"] == customer_id
            )

    def meter_count(self) -> int:
        with self.lock:
            return len(self.meter_events)

    # -- the API ---------------------------------------------------------------------

    @staticmethod
    def _public(obj: dict) -> dict:
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    def handle(self, method: str, path: str, params: dict) -> tuple[int, dict]:
        routes = [
            ("POST", r"/v1/customers", self._customer_create),
            ("GET", r"/v1/customers/(?P<id>[\w-]+)", self._customer_get),
            ("POST", r"/v1/checkout/sessions", self._session_create),
            ("GET", r"/v1/checkout/sessions/(?P<id>[\w-]+)", self._session_get),
            ("POST", r"/v1/billing_portal/sessions", self._portal_create),
            ("GET", r"/v1/subscriptions", self._subscription_list),
            ("GET", r"/v1/subscriptions/(?P<id>[\w-]+)", self._subscription_get),
            ("POST", r"/v1/subscriptions/(?P<id>[\w-]+)", self._subscription_update),
            ("GET", r"/v1/invoices", self._invoice_list),
            ("POST", r"/v1/billing/meter_events", self._meter_event_create),
        ]
        for verb, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if verb == method and match:
                with self.lock:
                    return 200, handler(params, **match.groupdict())
        raise StripeError(404, f"Unrecognized request URL ({method}: {path}).")

    def _customer_create(self, params):
        customer = copy.deepcopy(FIXTURES["customer"])
        customer.update(
            id=self._id("cus"),
            created=int(time.time()),
            email=params.get("email"),
            name=params.get("name"),
            metadata=params.get("metadata") or {},
            livemode=False,
        )
        self.customers[customer["id"]] = customer
        return customer

    def _customer_get(self, params, id):
        if id not in self.customers:
            raise _missing("customer", id)
        return self.customers[id]

    def _session_create(self, params):
        if params.get("mode") != "subscription":
            raise StripeError(400, "This server speaks mode=subscription only.", param="mode")
        if params.get("customer") not in self.customers:
            raise _missing("customer", str(params.get("customer")), "customer")
        lines = params.get("line_items") or []
        if not lines:
            raise StripeError(400, "Missing required param: line_items.", param="line_items")
        for index, line in enumerate(lines):
            price = self.prices.get(line.get("price"))
            if price is None:
                raise _missing("price", str(line.get("price")), f"line_items[{index}][price]")
            metered = price["recurring"]["usage_type"] == "metered"
            if metered and "quantity" in line:
                raise StripeError(
                    400,
                    "Quantity cannot be set for metered prices.",
                    param=f"line_items[{index}][quantity]",
                )
        for name in ("success_url", "cancel_url"):
            if not str(params.get(name, "")).startswith(("http://", "https://")):
                raise StripeError(400, f"Not a valid URL: {name}", param=name, code="url_invalid")
        session = copy.deepcopy(FIXTURES["checkout.session"])
        session_id = self._id("cs_test")
        session.update(
            id=session_id,
            mode="subscription",
            customer=params["customer"],
            status="open",
            payment_status="unpaid",
            subscription=None,
            created=int(time.time()),
            client_reference_id=params.get("client_reference_id"),
            metadata=params.get("metadata") or {},
            success_url=params["success_url"],
            cancel_url=params["cancel_url"],
            url=f"{self.url}/c/pay/{session_id}",
            _line_items=lines,
            _subscription_metadata=(params.get("subscription_data") or {}).get("metadata"),
        )
        self.sessions[session_id] = session
        return self._public(session)

    def _session_get(self, params, id):
        if id not in self.sessions:
            raise _missing("checkout.session", id)
        return self._public(self.sessions[id])

    def _portal_create(self, params):
        if params.get("customer") not in self.customers:
            raise _missing("customer", str(params.get("customer")), "customer")
        session = copy.deepcopy(FIXTURES["billing_portal.session"])
        session.update(
            id=self._id("bps"),
            customer=params["customer"],
            created=int(time.time()),
            return_url=params.get("return_url"),
            url=f"{self.url}/p/session/{secrets.token_hex(8)}",
        )
        return session

    def _subscription_get(self, params, id):
        if id not in self.subscriptions:
            raise _missing("subscription", id)
        return self.subscriptions[id]

    def _subscription_list(self, params):
        customer = params.get("customer")
        status = params.get("status", "all")
        rows = [
            s
            for s in self.subscriptions.values()
            if (not customer or s["customer"] == customer)
            and (status == "all" or s["status"] == status)
        ]
        return {"object": "list", "data": rows, "has_more": False, "url": "/v1/subscriptions"}

    def _subscription_update(self, params, id):
        sub = self._subscription_get(params, id)
        if sub["status"] == "canceled":
            raise StripeError(400, "A canceled subscription can only update its metadata.")
        items = sub["items"]["data"]
        for change in params.get("items") or []:
            if change.get("id"):
                item = next((i for i in items if i["id"] == change["id"]), None)
                if item is None:
                    raise _missing("subscription_item", change["id"], "items")
                if change.get("deleted") == "true":
                    items.remove(item)
                elif change.get("price"):
                    if change["price"] not in self.prices:
                        raise _missing("price", change["price"], "items")
                    item["price"] = copy.deepcopy(self.prices[change["price"]])
            elif change.get("price"):
                item = copy.deepcopy(items[0])
                item.update(id=self._id("si"), price=copy.deepcopy(self.prices[change["price"]]))
                items.append(item)
        if "cancel_at_period_end" in params:
            sub["cancel_at_period_end"] = params["cancel_at_period_end"] == "true"
        if params.get("metadata"):
            sub["metadata"] = {**sub.get("metadata", {}), **params["metadata"]}
        return sub

    def _invoice_list(self, params):
        customer = params.get("customer")
        rows = sorted(
            (i for i in self.invoices.values() if i["customer"] == customer),
            key=lambda i: i["created"],
            reverse=True,
        )
        limit = int(params.get("limit", 10))
        return {
            "object": "list",
            "data": rows[:limit],
            "has_more": len(rows) > limit,
            "url": "/v1/invoices",
        }

    def _meter_event_create(self, params):
        if params.get("event_name") not in self.meter_names:
            raise StripeError(
                400,
                f"No active meter found for event_name '{params.get('event_name')}'.",
                param="event_name",
            )
        payload = params.get("payload") or {}
        if payload.get("stripe_customer_id") not in self.customers:
            raise _missing("customer", str(payload.get("stripe_customer_id")), "payload")
        if not re.fullmatch(r"\d+", str(payload.get("value", ""))):
            raise StripeError(400, "The value must be a whole number.", param="payload[value]")
        timestamp = int(params.get("timestamp") or time.time())
        now = time.time()
        if timestamp < now - METER_MAX_AGE or timestamp > now + METER_MAX_AHEAD:
            raise StripeError(400, "Timestamp must be within the past 35 days.", param="timestamp")
        identifier = params.get("identifier") or self._id("mev")
        if identifier in self.meter_events:
            raise StripeError(
                400,
                f"An event already exists with identifier {identifier}.",
                code="resource_already_exists",
                param="identifier",
            )
        event = copy.deepcopy(FIXTURES["billing.meter_event"])
        event.update(
            created=int(now),
            event_name=params["event_name"],
            identifier=identifier,
            payload=payload,
            timestamp=timestamp,
            livemode=False,
        )
        self.meter_events[identifier] = event
        return event


class _Handler(BaseHTTPRequestHandler):
    stripe: FakeStripe
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def _respond(self, status: int, body: bytes, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Request-Id", f"req_{secrets.token_hex(7)}")
        self.send_header("Stripe-Version", API_VERSION)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _serve(self, method: str) -> None:
        fake = self.stripe
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        if method == "POST":
            pairs += parse_qsl(raw, keep_blank_values=True)
        auth = self.headers.get("Authorization", "")
        with fake.lock:
            fake.requests.append((method, parts.path))
        if auth != f"Bearer {fake.api_key}":
            error = StripeError(401, "Invalid API Key provided.")
            self._respond(401, json.dumps(error.body()).encode())
            return
        with fake.lock:
            faults = next(
                (v for k, v in fake.faults.items() if parts.path.startswith(k) and v), None
            )
            fault = faults.pop(0) if faults else None
        if fault is not None:
            error = StripeError(
                fault, "An error occurred with our connection to Stripe.", type_="api_error"
            )
            self._respond(fault, json.dumps(error.body()).encode())
            return
        key = self.headers.get("Idempotency-Key") if method == "POST" else None
        fingerprint = f"{parts.path}?{'&'.join(sorted(f'{k}={v}' for k, v in pairs))}"
        if key:
            with fake.lock:
                seen = fake.idempotency.get(key)
                if seen is not None:
                    if seen[0] != fingerprint:
                        error = StripeError(
                            400,
                            "Keys for idempotent requests can only be used "
                            "with the same parameters they were first used with.",
                            type_="idempotency_error",
                        )
                        self._respond(400, json.dumps(error.body()).encode())
                        return
                    fake.replays += 1
                    self._respond(seen[1], seen[2], {"Idempotent-Replayed": "true"})
                    return
        try:
            status, obj = fake.handle(method, parts.path, decode_form(pairs))
            body = json.dumps(obj).encode()
        except StripeError as error:
            status, body = error.status, json.dumps(error.body()).encode()
        if key and status < 500:
            with fake.lock:
                fake.idempotency[key] = (fingerprint, status, body)
        if parts.path == "/v1/billing/meter_events" and not fake.meter_gate.is_set():
            fake.meter_held.set()
            fake.meter_gate.wait()
        with contextlib.suppress(OSError):  # the client may be gone
            self._respond(status, body)

    def _hosted_checkout(self, method: str) -> bool:
        """Stripe's hosted Checkout page (for browser tests): GET shows a Pay button;
        POST completes the session, delivers the signed events to ``webhook_url`` and
        sends the browser to the success URL, as Stripe does."""
        match = re.fullmatch(r"/c/pay/([\w-]+)", urlsplit(self.path).path)
        if not match:
            return False
        fake = self.stripe
        session = fake.sessions.get(match.group(1))
        if session is None:
            self._respond(404, b'{"error": {"type": "invalid_request_error"}}')
            return True
        if method == "GET":
            page = (
                b'<!doctype html><html lang=en><title>Checkout</title><link rel=icon href="data:,">'
                b"<body><h1>Pay</h1>"
                b"<form method=post><button type=submit>Pay and subscribe</button></form>"
            )
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
            return True
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        for event in fake.checkout_complete(session["id"]):
            body = json.dumps(event).encode()
            # The test's own http:// address of the platform.
            request = urllib.request.Request(  # noqa: S310
                fake.webhook_url,
                data=body,
                method="POST",
                headers={
                    "Content-Type": "application/json",
                    "Stripe-Signature": event_signature(body, fake.webhook_secret),
                },
            )
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                response.read()
        self.send_response(303)
        self.send_header("Location", session["success_url"])
        self.send_header("Content-Length", "0")
        self.end_headers()
        return True

    def do_GET(self):
        if not self._hosted_checkout("GET"):
            self._serve("GET")

    def do_POST(self):
        if not self._hosted_checkout("POST"):
            self._serve("POST")

    def do_DELETE(self):
        self._serve("DELETE")

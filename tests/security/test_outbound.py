"""Server-side request forgery (issue 12, item 1): every server-side fetch goes through
core/outbound.py. The operator's allow-list is off here (the test settings allow-list
loopback for the fake AI providers), so loopback servers stand for the private network.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django_tenants.utils import schema_context

from assistants import services
from assistants.providers.base import ProviderConfig
from assistants.providers.errors import ProviderUnavailable
from assistants.providers.registry import get_provider
from core import outbound
from tests.helpers import GOOD_KEY, assert_error

# --- local servers ------------------------------------------------------------------------


class Recorder(ThreadingHTTPServer):
    """An HTTP server on loopback that records what reached it; optionally redirects."""

    daemon_threads = True

    def __init__(self, host: str = "127.0.0.1", redirect_to: str | None = None, body=b"{}"):
        self.seen: list[tuple[str, str, str]] = []
        self.redirect_to, self.body = redirect_to, body
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                server.seen.append((self.command, self.path, self.headers.get("Host", "")))
                if server.redirect_to:
                    self.send_response(307)
                    self.send_header("Location", server.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            do_GET = do_POST = _answer

            def log_message(self, *args) -> None:
                pass

        super().__init__((host, 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.stop()


@pytest.fixture
def not_http() -> Iterator[int]:
    """A TCP service on loopback that is not HTTP (answers with an SSH banner)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()


@pytest.fixture
def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there any more
    return port


@pytest.fixture
def no_allow_list(settings):
    settings.OUTBOUND_ALLOWED_HOSTS = []
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    return settings


def names(mapping: dict[str, list[str]]):
    """A resolver for made-up names (no DNS involved); other names do not resolve."""

    def resolve(host: str, port: int) -> list[str]:
        if host in mapping:
            return mapping[host]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    return outbound.resolver_override(resolve)


# --- the address matrix -------------------------------------------------------------------

REFUSED_URLS = [
    # IPv4 private, loopback, link-local (cloud metadata), shared, multicast, reserved
    "http://127.0.0.1/",
    "http://127.255.255.254:8080/",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/",
    "http://0.0.0.0/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    # IPv6
    "http://[::1]/",
    "http://[::]/",
    "http://[fe80::1]/",
    "http://[fd00::1]/",
    "http://[ff02::1]/",
    # IPv4 inside IPv6: mapped, NAT64, 6to4
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:7f00:1::1]/",
    # other spellings of 127.0.0.1: decimal, octal, hex, short
    "http://2130706433/",
    "http://0177.0.0.1/",
    "http://0x7f.0.0.1/",
    "http://0x7f000001/",
    "http://127.1/",
    # localhost variants
    "http://localhost/",
    "http://localhost./",
    "http://LOCALHOST:11434/",
    "http://api.localhost/",
    # not http(s), or credentials in the URL
    "ftp://files.example.com/",
    "file:///etc/passwd",
    "gopher://example.com/",
    "http://user:pass@api.example.com/",
    "https://user@api.example.com/",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_refused_urls(no_allow_list, url):
    with names({"api.example.com": ["93.184.216.34"]}), pytest.raises(outbound.UnreachableAddress):
        outbound.check_url(url)


@pytest.mark.parametrize(
    "addresses",
    [
        ["10.1.2.3"],
        ["169.254.169.254"],
        ["::1"],
        ["::ffff:10.0.0.1"],
        # one public and one private answer: refused as a whole
        ["93.184.216.34", "192.168.0.10"],
    ],
)
def test_names_resolving_to_private_addresses_are_refused(no_allow_list, addresses):
    with names({"intranet.example.com": addresses}), pytest.raises(outbound.UnreachableAddress):
        outbound.check_url("https://intranet.example.com/v1")


def test_public_addresses_pass(no_allow_list):
    with names({"api.example.com": ["93.184.216.34", "2606:2800:220:1::1"]}):
        outbound.check_url("https://api.example.com/v1")
    outbound.check_url("https://8.8.8.8/")


def test_operator_allow_list_by_network_and_by_host(no_allow_list):
    with pytest.raises(outbound.UnreachableAddress):
        outbound.check_url("http://127.0.0.1:11434/v1")
    no_allow_list.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    outbound.check_url("http://127.0.0.1:11434/v1")
    with pytest.raises(outbound.UnreachableAddress):
        outbound.check_url("http://10.0.0.5/")

    no_allow_list.OUTBOUND_ALLOWED_NETWORKS = []
    no_allow_list.OUTBOUND_ALLOWED_HOSTS = ["ollama.internal"]
    with names({"ollama.internal": ["10.0.0.7"], "other.internal": ["10.0.0.8"]}):
        outbound.check_url("http://OLLAMA.internal.:11434/v1")
        with pytest.raises(outbound.UnreachableAddress):
            outbound.check_url("http://other.internal:11434/v1")


# --- real connections ---------------------------------------------------------------------


def test_a_refused_address_is_never_contacted(no_allow_list, recorder):
    for host in ("127.0.0.1", "2130706433", "0x7f.0.0.1", "localhost"):
        with outbound.client() as http, pytest.raises(outbound.UnreachableAddress):
            http.get(f"http://{host}:{recorder.port}/")
    assert recorder.seen == []


def test_the_connection_goes_to_the_checked_address(no_allow_list, recorder):
    """DNS is asked once per connection and the socket goes where the answer was checked:
    a name that answers an allowed address, then a refused one (DNS rebinding), cannot
    reach the refused one; the Host header keeps the name."""
    no_allow_list.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    answers = iter([["127.0.0.1"], ["127.0.0.2"]])
    calls: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return next(answers)

    with outbound.resolver_override(rebinding):
        with outbound.client() as http:
            assert http.get(f"http://rebind.example.com:{recorder.port}/x").status_code == 200
        assert calls == ["rebind.example.com"]
        assert recorder.seen == [("GET", "/x", f"rebind.example.com:{recorder.port}")]
        with outbound.client() as http, pytest.raises(outbound.UnreachableAddress):
            http.get(f"http://rebind.example.com:{recorder.port}/y")
    assert len(recorder.seen) == 1


@pytest.fixture
def inner() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.stop()


def test_redirects_into_private_space_are_refused_hop_by_hop(no_allow_list, inner):
    no_allow_list.OUTBOUND_ALLOWED_HOSTS = ["public.example.com"]
    outer = Recorder(redirect_to=f"http://intranet.example.com:{inner.port}/secret")
    try:
        with names({"public.example.com": ["127.0.0.1"], "intranet.example.com": ["127.0.0.1"]}):
            with (
                outbound.client(follow_redirects=True) as http,
                pytest.raises(outbound.UnreachableAddress),
            ):
                http.get(f"http://public.example.com:{outer.port}/start")
            # the plain client does not follow redirects at all
            with outbound.client() as http:
                assert http.get(f"http://public.example.com:{outer.port}/").status_code == 307
            # and an SDK (which follows redirects itself) meets the same check
            provider = get_provider(
                ProviderConfig(
                    provider="openai",
                    api_key=GOOD_KEY,
                    base_url=f"http://public.example.com:{outer.port}/v1",
                    timeout=5.0,
                    max_retries=0,
                )
            )
            with pytest.raises(ProviderUnavailable) as info:
                provider.verify()
            assert info.value.detail == outbound.UNREACHABLE_MESSAGE
    finally:
        outer.stop()
    assert len(outer.seen) == 3
    assert inner.seen == []


def test_responses_are_capped(settings, recorder):
    recorder.body = b"x" * 100_000
    settings.OUTBOUND_MAX_RESPONSE_BYTES = 10_000
    with outbound.client() as http, pytest.raises(outbound.ResponseTooLarge):
        http.get(f"http://127.0.0.1:{recorder.port}/")
    settings.OUTBOUND_MAX_RESPONSE_BYTES = 1_000_000
    settings.OUTBOUND_MAX_RESPONSE_SECONDS = 0.0  # the time cap, without waiting for it
    with outbound.client() as http, pytest.raises(outbound.ResponseTooLarge):
        http.get(f"http://127.0.0.1:{recorder.port}/")


@pytest.mark.parametrize("provider", ["openai", "anthropic", "google"])
def test_every_provider_sdk_goes_through_the_policy(no_allow_list, recorder, provider):
    base = f"http://127.0.0.1:{recorder.port}"
    config = ProviderConfig(
        provider=provider,
        api_key=GOOD_KEY,
        base_url=f"{base}/v1" if provider == "openai" else base,
        timeout=5.0,
        max_retries=0,
    )
    with pytest.raises(ProviderUnavailable) as info:
        get_provider(config).verify()
    assert info.value.detail == outbound.UNREACHABLE_MESSAGE
    assert recorder.seen == []


# --- what an organization admin can do through the API ------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "base_url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/v1",
        "http://[::ffff:127.0.0.1]/v1",
        "http://2130706433/v1",
        "http://localhost:11434/v1",
        "ftp://example.com/v1",
        "http://user:pass@api.example.com/v1",
    ],
)
def test_a_credential_base_url_is_checked_when_saved(no_allow_list, org_a, client_for, base_url):
    admin = client_for(org_a, "admin")
    created = admin.post(
        "/api/v1/credentials", {"provider": "openai_compatible", "base_url": base_url}
    )
    assert "base_url" in assert_error(created, 400)["fields"]


@pytest.mark.django_db
def test_the_credential_test_says_the_same_whatever_is_behind_the_address(
    settings, org_a, client_for, not_http, closed_port
):
    """Refused address, closed port, a server that does not speak HTTP: one message, so
    the credential test is no port scanner."""
    admin = client_for(org_a, "admin")
    with schema_context(org_a.slug):
        credential = services.credential_create(
            provider="openai_compatible", base_url="http://model.example.com/v1", user=org_a.admin
        )
    settings.AI_MAX_RETRIES = 0
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    messages = []
    for address, port in (
        ("169.254.169.254", 80),  # the DNS answer changed after the URL was saved
        ("127.0.0.1", closed_port),
        ("127.0.0.1", not_http),
    ):
        with schema_context(org_a.slug):
            credential.base_url = f"http://model.example.com:{port}/v1"
            credential.save(update_fields=["base_url"])
        with names({"model.example.com": [address]}):
            response = admin.post(f"/api/v1/credentials/{credential.id}/test")
        assert response.status_code == 200, response.content
        assert response.json()["last_test_ok"] is False
        messages.append(response.json()["last_test_message"])
    assert messages[0] == messages[1] == messages[2]
    assert "reached" in messages[0]

"""The outbound HTTP policy: every request the server makes to an address that a tenant
chose (provider base URLs, credential tests, rerankers; later webhooks, workflow HTTP
steps, URL documents, integrations) goes through this module.

Rules (docs/security.md):

- ``http``/``https`` only, and no ``user:password@`` in the URL;
- the host name is resolved once per connection and the socket connects to the address
  that was checked (SNI and the Host header keep the name), so a DNS answer that changes
  between the check and the connection (DNS rebinding) cannot reach anything else;
- loopback, private, link-local (cloud metadata at 169.254.169.254), shared, multicast,
  reserved and unspecified addresses are refused, including their IPv4-mapped, NAT64,
  6to4 and Teredo IPv6 forms, unless the platform operator allow-lists the host name
  (``OUTBOUND_ALLOWED_HOSTS``) or the range (``OUTBOUND_ALLOWED_NETWORKS``); this is a
  deployment setting, never a tenant one;
- every redirect hop is a new request through the same transport, so it is checked
  again (the plain clients below do not follow redirects at all);
- responses are capped in size (``OUTBOUND_MAX_RESPONSE_BYTES``) and in total time
  (``OUTBOUND_MAX_RESPONSE_SECONDS``);
- whatever goes wrong before an answer arrives (a refused address, a closed port, a
  server that does not speak HTTP, a name that does not resolve) is one error,
  ``UnreachableAddress``, whose message says nothing about the network. The reason is
  logged for the operator.

API: ``check_url()`` (raise if a URL may not be fetched), ``validate_url()`` (the
field error for a URL typed into a form), ``client()`` / ``async_client()`` (httpx
clients for new code), ``transport()`` / ``async_transport()`` (for SDKs that take an
httpx client or transport).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore2
import httpx2
from django.conf import settings

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

# What a tenant is told, whatever the cause: the same words for a refused address, a
# closed port and a server that does not speak HTTP, so the platform is no port scanner.
UNREACHABLE_MESSAGE = "The server at this address could not be reached."
SCHEMES = ("http", "https")
DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024
# Long enough for a streamed answer from a slow model; read timeouts catch a stalled one.
DEFAULT_MAX_RESPONSE_SECONDS = 600.0

# Ranges that `is_global` misses or that must be named explicitly.
_ALWAYS_REFUSED: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT (shared address space)
        "192.0.0.0/24",
        "198.18.0.0/15",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",
        "255.255.255.255/32",
        "::/128",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnreachableAddress(httpx2.ConnectError):
    """The request was not sent, or got no HTTP answer. ``reason`` is for the logs only;
    ``str()`` is the same for every cause. A transport error, so the SDKs treat it as
    a connection failure."""

    def __init__(self, reason: str, *, request: httpx2.Request | None = None) -> None:
        super().__init__(UNREACHABLE_MESSAGE, request=request)
        self.reason = reason


class ResponseTooLarge(httpx2.ReadError):
    """The answer went past the size or time cap."""


class InvalidURL(ValueError):
    """A URL that may never be fetched, with a message fit for a form's field error."""


@dataclass(frozen=True)
class Policy:
    allowed_hosts: frozenset[str]
    allowed_networks: tuple[IPNetwork, ...]
    max_response_bytes: int
    max_response_seconds: float

    def host_allowed(self, host: str) -> bool:
        return _normal_host(host) in self.allowed_hosts

    def address_allowed(self, address: IPAddress) -> bool:
        if any(address in net for net in self.allowed_networks if net.version == address.version):
            return True
        return all(is_public(a) for a in _embedded_forms(address))


def current_policy() -> Policy:
    """Read at each connection, so a settings change (and `override_settings`) applies
    to clients that were built before it."""
    return Policy(
        allowed_hosts=frozenset(
            _normal_host(h) for h in getattr(settings, "OUTBOUND_ALLOWED_HOSTS", ())
        ),
        allowed_networks=tuple(
            ipaddress.ip_network(n, strict=False)
            for n in getattr(settings, "OUTBOUND_ALLOWED_NETWORKS", ())
        ),
        max_response_bytes=int(
            getattr(settings, "OUTBOUND_MAX_RESPONSE_BYTES", DEFAULT_MAX_RESPONSE_BYTES)
        ),
        max_response_seconds=float(
            getattr(settings, "OUTBOUND_MAX_RESPONSE_SECONDS", DEFAULT_MAX_RESPONSE_SECONDS)
        ),
    )


# --- addresses --------------------------------------------------------------------------


def is_public(address: IPAddress) -> bool:
    if any(address in net for net in _ALWAYS_REFUSED if net.version == address.version):
        return False
    return address.is_global and not (
        address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address.is_loopback
        or address.is_link_local
        or address.is_private
    )


def _embedded_forms(address: IPAddress) -> list[IPAddress]:
    """The address and every IPv4 address an IPv6 one carries (mapped, NAT64, 6to4,
    Teredo): each must be public, or ``::ffff:127.0.0.1`` would reach loopback."""
    forms: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            forms.append(address.ipv4_mapped)
        if address.sixtofour is not None:
            forms.append(address.sixtofour)
        if address.teredo is not None:
            forms.extend(address.teredo)
        if address in _NAT64:
            forms.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return forms


def _normal_host(host: str) -> str:
    return host.strip().lower().rstrip(".").strip("[]")


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


_resolver_lock = threading.Lock()
_resolver: Resolver = _system_resolver


@contextmanager
def resolver_override(resolver: Resolver) -> Iterator[None]:
    """Resolve names with `resolver` (host, port) -> addresses for a while: how tests make
    a name point at a private address without touching DNS."""
    global _resolver
    with _resolver_lock:
        previous, _resolver = _resolver, resolver
    try:
        yield
    finally:
        with _resolver_lock:
            _resolver = previous


def permitted_addresses(host: str, port: int, policy: Policy | None = None) -> list[str]:
    """The addresses `host` may be reached at, resolved once; raises UnreachableAddress.

    A name is refused when any of its addresses is refused (an attacker's DNS may
    answer with one public and one private address), unless the operator allow-listed
    the name itself.
    """
    policy = policy or current_policy()
    name = _normal_host(host)
    try:
        raw = [str(ipaddress.ip_address(name))]
    except ValueError:
        try:
            raw = _resolver(name, port)
        except (OSError, UnicodeError) as exc:
            raise UnreachableAddress(f"{host!r} does not resolve: {exc}") from None
    addresses: list[IPAddress] = []
    for text in dict.fromkeys(raw):
        try:
            addresses.append(ipaddress.ip_address(text.split("%", 1)[0]))
        except ValueError:
            raise UnreachableAddress(f"{host!r} resolved to {text!r}") from None
    if not addresses:
        raise UnreachableAddress(f"{host!r} has no address")
    if not policy.host_allowed(name):
        refused = [a for a in addresses if not policy.address_allowed(a)]
        if refused:
            raise UnreachableAddress(f"{host!r} resolves to refused address {refused[0]}")
    return [str(a) for a in addresses]


# --- URLs -------------------------------------------------------------------------------


def _url_problem(url: str) -> str | None:
    """Why `url` may never be fetched (before any DNS), or None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "Enter a valid URL."
    if parts.scheme.lower() not in SCHEMES:
        return "Only http and https URLs are allowed."
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "URLs with a user name or password are not allowed."
    if not parts.hostname:
        return "Enter a valid URL."
    if port == 0:
        return "Enter a valid URL."
    return None


def _default_port(scheme: str) -> int:
    return 443 if scheme.lower() == "https" else 80


def check_url(url: str, policy: Policy | None = None) -> None:
    """Raise UnreachableAddress unless `url` may be fetched now (resolves the name)."""
    problem = _url_problem(url)
    if problem:
        raise UnreachableAddress(f"{url!r}: {problem}")
    parts = urlsplit(url)
    permitted_addresses(parts.hostname or "", parts.port or _default_port(parts.scheme), policy)


def validate_url(url: str, policy: Policy | None = None) -> None:
    """For a URL saved in a form (a credential's base URL, a webhook): InvalidURL with a
    field message when it can never be fetched. A name that does not resolve now is
    accepted (it may later), a literal or resolved refused address is not."""
    problem = _url_problem(url)
    if problem:
        raise InvalidURL(problem)
    try:
        check_url(url, policy)
    except UnreachableAddress as exc:
        if "does not resolve" in exc.reason or "no address" in exc.reason:
            return
        raise InvalidURL("This address is not allowed for outbound requests.") from None


def _check_request(request: httpx2.Request) -> None:
    problem = _url_problem(str(request.url))
    if problem:
        raise UnreachableAddress(f"{request.url!r}: {problem}", request=request)


# --- transports -------------------------------------------------------------------------


class _PinnedSyncBackend(httpcore2.SyncBackend):
    """Connects to the checked address of the name, never to a second lookup's."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.NetworkStream:
        last: Exception | None = None
        for address in permitted_addresses(host, port):
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore2.ConnectTimeout:
                raise
            except httpcore2.ConnectError as exc:
                last = exc
        raise UnreachableAddress(f"{host}:{port}: {last}")


class _PinnedAsyncBackend(httpcore2.AnyIOBackend):
    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        addresses = await asyncio.to_thread(permitted_addresses, host, port)
        last: Exception | None = None
        for address in addresses:
            try:
                return await super().connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except httpcore2.ConnectTimeout:
                raise
            except httpcore2.ConnectError as exc:
                last = exc
        raise UnreachableAddress(f"{host}:{port}: {last}")


class _Cap:
    """Counts bytes and time of one response."""

    def __init__(self, policy: Policy) -> None:
        self.limit = policy.max_response_bytes
        self.deadline = time.monotonic() + policy.max_response_seconds
        self.seen = 0

    def check_headers(self, response: httpx2.Response) -> None:
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.limit:
            raise ResponseTooLarge(f"response of {length} bytes is over the cap")

    def add(self, chunk: bytes) -> None:
        self.seen += len(chunk)
        if self.seen > self.limit:
            raise ResponseTooLarge(f"response went past {self.limit} bytes")
        if time.monotonic() > self.deadline:
            raise ResponseTooLarge("response took longer than the time cap")


class _CappedStream(httpx2.SyncByteStream):
    def __init__(self, stream: Any, cap: _Cap) -> None:
        self._stream, self._cap = stream, cap

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._stream:
            self._cap.add(chunk)
            yield chunk

    def close(self) -> None:
        self._stream.close()


class _AsyncCappedStream(httpx2.AsyncByteStream):
    def __init__(self, stream: Any, cap: _Cap) -> None:
        self._stream, self._cap = stream, cap

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            self._cap.add(chunk)
            yield chunk

    async def aclose(self) -> None:
        await self._stream.aclose()


def _pool_options(limits: httpx2.Limits) -> dict[str, Any]:
    return {
        # Environment proxies are ignored: a proxy would connect where we did not check.
        "ssl_context": httpx2.create_ssl_context(trust_env=False),
        "max_connections": limits.max_connections,
        "max_keepalive_connections": limits.max_keepalive_connections,
        "keepalive_expiry": limits.keepalive_expiry,
    }


class PinnedTransport(httpx2.HTTPTransport):
    """An httpx transport that applies the policy to every request (and so to every
    redirect hop a client follows)."""

    def __init__(self, *, limits: httpx2.Limits = httpx2.Limits()) -> None:  # noqa: B008
        super().__init__(trust_env=False, limits=limits)
        self._pool = httpcore2.ConnectionPool(
            **_pool_options(limits), network_backend=_PinnedSyncBackend()
        )

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        _check_request(request)
        cap = _Cap(current_policy())
        try:
            response = super().handle_request(request)
        except (httpx2.TimeoutException, UnreachableAddress):
            raise
        except httpx2.TransportError as exc:
            # A closed port, a TLS or protocol failure, a server that does not speak HTTP.
            raise UnreachableAddress(f"{request.url}: {exc!r}", request=request) from None
        try:
            cap.check_headers(response)
        except ResponseTooLarge:
            response.close()
            raise
        return httpx2.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_CappedStream(response.stream, cap),
            extensions=response.extensions,
        )


class _LoopTransport(httpx2.AsyncHTTPTransport):
    def __init__(self, limits: httpx2.Limits) -> None:
        super().__init__(trust_env=False, limits=limits)
        self._pool = httpcore2.AsyncConnectionPool(
            **_pool_options(limits), network_backend=_PinnedAsyncBackend()
        )


class AsyncPinnedTransport(httpx2.AsyncBaseTransport):
    """The async twin of PinnedTransport. Pooled connections belong to the event loop
    that opened them, so it keeps one pool per running loop: one transport can then be
    shared by clients used from several loops (as google-genai's async client does)."""

    def __init__(self, *, limits: httpx2.Limits = httpx2.Limits()) -> None:  # noqa: B008
        self._limits = limits
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopTransport] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    def _for_running_loop(self) -> _LoopTransport:
        loop = asyncio.get_running_loop()
        with self._lock:
            for closed in [old for old in self._pools if old.is_closed()]:
                del self._pools[closed]
            transport = self._pools.get(loop)
            if transport is None:
                transport = self._pools[loop] = _LoopTransport(self._limits)
            return transport

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        _check_request(request)
        cap = _Cap(current_policy())
        try:
            response = await self._for_running_loop().handle_async_request(request)
        except (httpx2.TimeoutException, UnreachableAddress):
            raise
        except httpx2.TransportError as exc:
            raise UnreachableAddress(f"{request.url}: {exc!r}", request=request) from None
        try:
            cap.check_headers(response)
        except ResponseTooLarge:
            await response.aclose()
            raise
        return httpx2.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_AsyncCappedStream(response.stream, cap),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            transport = self._pools.pop(loop, None)
        if transport is not None:
            await transport.aclose()


def transport(*, limits: httpx2.Limits | None = None) -> PinnedTransport:
    return PinnedTransport(limits=limits or httpx2.Limits())


def async_transport(*, limits: httpx2.Limits | None = None) -> AsyncPinnedTransport:
    return AsyncPinnedTransport(limits=limits or httpx2.Limits())


def client(
    *, timeout: float = 10.0, follow_redirects: bool = False, **kwargs: Any
) -> httpx2.Client:
    """An httpx client for a tenant-chosen URL. Redirects are not followed unless asked;
    when they are, each hop is checked like the first request (at most 5)."""
    return httpx2.Client(
        transport=transport(),
        timeout=timeout,
        follow_redirects=follow_redirects,
        max_redirects=5,
        trust_env=False,
        **kwargs,
    )


def async_client(
    *, timeout: float = 10.0, follow_redirects: bool = False, **kwargs: Any
) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        transport=async_transport(),
        timeout=timeout,
        follow_redirects=follow_redirects,
        max_redirects=5,
        trust_env=False,
        **kwargs,
    )

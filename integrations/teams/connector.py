"""The Agents SDK's connector client, with its HTTP under the outbound policy.

The SDK's ``TeamsConnectorClient`` speaks aiohttp. Left alone it would resolve the
activity's ``serviceUrl`` itself, after our check: a DNS answer that changes between the
check and the connection (DNS rebinding) could then reach an internal address. So the
client gets an aiohttp session of ours:

- a resolver that asks ``core.outbound.permitted_addresses`` (one resolution, refused
  ranges refused) and hands aiohttp exactly the addresses that were checked, so the
  socket connects to the checked address (SNI and the Host header keep the name); no
  DNS cache, so every new connection is checked again;
- a middleware that runs on every request, redirect hops included: http/https only, no
  ``user:password@``, and an IP-literal host (which aiohttp never sends to a resolver)
  checked against the same policy.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from microsoft_agents.hosting.core.connector.teams import TeamsConnectorClient

from core import outbound


class PolicyResolver(AbstractResolver):
    """Names resolved once, through the outbound policy; aiohttp connects to these."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await asyncio.to_thread(outbound.permitted_addresses, host, port)
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in addresses
        ]

    async def close(self) -> None:
        return None


async def policy_middleware(request: aiohttp.ClientRequest, handler):
    url = request.url
    if url.scheme not in outbound.SCHEMES or url.user is not None or url.password is not None:
        raise outbound.UnreachableAddress(f"{url!s}: scheme or credentials refused")
    host = (url.raw_host or "").strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass  # a name: the resolver checks the address it connects to
    else:
        await asyncio.to_thread(outbound.permitted_addresses, host, url.port or 0)
    return await handler(request)


def policy_session(*, base_url: str, headers: dict | None = None) -> aiohttp.ClientSession:
    """An aiohttp session whose every connection goes to an address the policy checked.
    Environment proxies are ignored (``trust_env=False``): a proxy would connect where
    we did not check."""
    connector = aiohttp.TCPConnector(resolver=PolicyResolver(), use_dns_cache=False)
    return aiohttp.ClientSession(
        base_url=base_url,
        headers=headers or {},
        connector=connector,
        middlewares=(policy_middleware,),
        trust_env=False,
        timeout=aiohttp.ClientTimeout(total=30),
    )


def connector_client(*, service_url: str, token: str) -> TeamsConnectorClient:
    """The SDK's Teams connector client for ``service_url``, on a policy session.
    Build it inside the event loop that uses it."""
    endpoint = service_url if service_url.endswith("/") else service_url + "/"
    session = policy_session(
        base_url=endpoint,
        headers={"Accept": "application/json", "Content-Type": "application/json"},
    )
    return TeamsConnectorClient(endpoint=endpoint, token=token, session=session)

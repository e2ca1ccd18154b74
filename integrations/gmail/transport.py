"""Google's clients over the outbound HTTP policy (ADR 0043).

google-api-python-client speaks httplib2 and google-auth-oauthlib speaks requests; both
are given a transport that sends every request through ``core.outbound.client()``, so
the scheme allow-list, the pinned DNS answer, the private-range refusal and the size and
time caps apply to Gmail calls, token refreshes and the code exchange alike. Neither
library opens a socket of its own: httplib2's and requests' connection code is never
reached.
"""

from __future__ import annotations

from typing import Any

import httplib2
import requests
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers

from core import outbound

TIMEOUT_SECONDS = 30.0


class PolicyHttp:
    """The part of ``httplib2.Http`` that googleapiclient and google-auth-httplib2 call:
    ``request(uri, method, body, headers) -> (Response, bytes)``. Redirects are not
    followed (Google's APIs answer without them), so no hop escapes the check."""

    def __init__(self, *, timeout: float = TIMEOUT_SECONDS) -> None:
        self.timeout = timeout
        self.redirect_codes = frozenset()
        self._client = outbound.client(timeout=timeout)

    def request(
        self,
        uri: str,
        method: str = "GET",
        body: bytes | str | None = None,
        headers: dict | None = None,
        redirections: int = 0,
        connection_type: Any = None,
    ) -> tuple[httplib2.Response, bytes]:
        if isinstance(body, str):
            body = body.encode()
        response = self._client.request(method, uri, content=body, headers=headers or {})
        info = {key.lower(): value for key, value in response.headers.items()}
        info["status"] = str(response.status_code)
        result = httplib2.Response(info)
        result.reason = response.reason_phrase
        return result, response.content

    def close(self) -> None:
        self._client.close()


class PolicyAdapter(requests.adapters.BaseAdapter):
    """A requests adapter (mounted on requests-oauthlib's session for the code
    exchange) that sends through the outbound policy."""

    def __init__(self, *, timeout: float = TIMEOUT_SECONDS) -> None:
        super().__init__()
        self._client = outbound.client(timeout=timeout)

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        answer = self._client.request(
            request.method, request.url, content=request.body, headers=dict(request.headers)
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response.headers = CaseInsensitiveDict(answer.headers)
        response.encoding = get_encoding_from_headers(response.headers)
        response._content = answer.content
        response.reason = answer.reason_phrase
        response.url = request.url
        response.request = request
        return response

    def close(self) -> None:
        self._client.close()


def policy_session(session: requests.Session) -> requests.Session:
    """``session`` with every scheme mounted on the policy adapter."""
    adapter = PolicyAdapter()
    for prefix in ("https://", "http://"):
        session.mount(prefix, adapter)
    return session

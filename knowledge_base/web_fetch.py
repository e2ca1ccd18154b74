"""Fetching web pages and sitemaps for URL documents: every request goes through the
outbound HTTP policy (core/outbound.py: scheme allow-list, DNS pinned, private ranges
refused, every redirect hop checked), with this feature's own size and time caps, a
conditional request when the last fetch left an ETag or Last-Modified, and robots.txt
respected (RFC 9309: a robots.txt that answers 4xx allows everything; one that cannot be
read refuses everything, for now).

Sitemaps (sitemaps.org protocol) are parsed with defusedxml (no DTD, no entities) under
the byte cap, and only their first ``KNOWLEDGE_SITEMAP_MAX_URLS`` pages are kept.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from urllib.parse import urldefrag, urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import httpx2
from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException
from django.conf import settings

from core import outbound

logger = logging.getLogger(__name__)

ROBOTS_MAX_BYTES = 512 * 1024
MAX_URL_LENGTH = 1000  # Document.source_url
_SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


class FetchFailed(Exception):
    """The page could not be fetched; ``message`` is fit to show the organization."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RobotsRefused(FetchFailed):
    pass


@dataclass(frozen=True)
class Fetched:
    """An answer: ``status`` 200 (``body`` set), 304 (not modified) or 404/410 (gone)."""

    url: str  # after redirects
    status: int
    body: bytes = b""
    content_type: str = ""
    etag: str = ""
    last_modified: str = ""

    @property
    def gone(self) -> bool:
        return self.status in (404, 410)

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def _client() -> httpx2.Client:
    return outbound.client(
        timeout=settings.KNOWLEDGE_WEB_TIMEOUT_SECONDS,
        follow_redirects=True,
        headers={"User-Agent": settings.KNOWLEDGE_WEB_USER_AGENT},
    )


def _read(response: httpx2.Response, limit: int, deadline: float) -> bytes:
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > limit:
            raise FetchFailed(f"The page is larger than the {limit:,} bytes allowed.")
        if time.monotonic() > deadline:
            raise FetchFailed("The page took too long to download.")
    return bytes(body)


def fetch(url: str, *, etag: str = "", last_modified: str = "", max_bytes: int = 0) -> Fetched:
    """GET ``url`` under the policy; conditional when ``etag``/``last_modified`` are given.
    Raises FetchFailed for anything but 200, 304, 404 and 410."""
    limit = max_bytes or settings.KNOWLEDGE_WEB_MAX_BYTES
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    deadline = time.monotonic() + settings.KNOWLEDGE_WEB_TIMEOUT_SECONDS
    try:
        with _client() as client, client.stream("GET", url, headers=headers) as response:
            if response.status_code in (304, 404, 410):
                return Fetched(url=str(response.url), status=response.status_code)
            if response.status_code != 200:
                raise FetchFailed(f"The server answered {response.status_code}.")
            body = _read(response, limit, deadline)
            return Fetched(
                url=str(response.url),
                status=200,
                body=body,
                content_type=response.headers.get("content-type", ""),
                etag=response.headers.get("etag", "")[:300],
                last_modified=response.headers.get("last-modified", "")[:100],
            )
    except outbound.ResponseTooLarge:
        raise FetchFailed(f"The page is larger than the {limit:,} bytes allowed.") from None
    except httpx2.TooManyRedirects:
        raise FetchFailed("The page redirects too many times.") from None
    except httpx2.TimeoutException:
        raise FetchFailed("The server did not answer in time.") from None
    except outbound.UnreachableAddress as exc:
        logger.info("web fetch of %s refused or unreachable: %s", url, exc.reason)
        raise FetchFailed(outbound.UNREACHABLE_MESSAGE) from None
    except httpx2.HTTPError as exc:
        logger.info("web fetch of %s failed: %r", url, exc)
        raise FetchFailed(outbound.UNREACHABLE_MESSAGE) from None


# -- robots.txt -------------------------------------------------------------------------


class Robots:
    """robots.txt of each origin, read once per instance (one fetch run)."""

    def __init__(self) -> None:
        self._parsers: dict[str, RobotFileParser | None] = {}

    def check(self, url: str) -> None:
        """Raise RobotsRefused when the origin's robots.txt disallows ``url`` to us."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._parsers:
            self._parsers[origin] = self._load(origin)
        parser = self._parsers[origin]
        if parser is None:
            raise RobotsRefused(
                "The site's robots.txt could not be read; the page was not fetched."
            )
        if not parser.can_fetch(settings.KNOWLEDGE_WEB_USER_AGENT, url):
            raise RobotsRefused("The site's robots.txt does not allow fetching this page.")

    @staticmethod
    def _load(origin: str) -> RobotFileParser | None:
        parser = RobotFileParser()
        try:
            with _client() as client, client.stream("GET", f"{origin}/robots.txt") as response:
                if 400 <= response.status_code < 500:
                    parser.allow_all = True
                    return parser
                if response.status_code != 200:
                    return None
                deadline = time.monotonic() + settings.KNOWLEDGE_WEB_TIMEOUT_SECONDS
                body = _read(response, ROBOTS_MAX_BYTES, deadline)
        except outbound.UnreachableAddress as exc:
            # The site itself is out of reach (or refused by the policy): say that.
            logger.info("robots.txt of %s unreachable: %s", origin, exc.reason)
            raise FetchFailed(outbound.UNREACHABLE_MESSAGE) from None
        except httpx2.TimeoutException:
            raise FetchFailed("The server did not answer in time.") from None
        except (httpx2.HTTPError, FetchFailed):
            return None
        parser.parse(body.decode("utf-8", errors="replace").splitlines())
        return parser


# -- sitemaps -----------------------------------------------------------------------------


@dataclass
class SitemapPages:
    urls: list[str] = field(default_factory=list)
    truncated: bool = False  # more pages than KNOWLEDGE_SITEMAP_MAX_URLS
    # False when a sitemap of the index could not be read: its pages are not "gone".
    complete: bool = True


def _local(tag: str) -> str:
    return tag.removeprefix(_SITEMAP_NS)


def parse_sitemap(body: bytes) -> tuple[str, list[str]]:
    """("urlset" | "sitemapindex", the <loc> values in order). FetchFailed when it is not
    a sitemap (or carries a DTD or entities, which defusedxml refuses)."""
    try:
        root = ElementTree.fromstring(body, forbid_dtd=True)
    except (ElementTree.ParseError, DefusedXmlException, ValueError):
        raise FetchFailed("This is not a sitemap (it is not well-formed XML).") from None
    kind = _local(root.tag)
    if kind not in ("urlset", "sitemapindex"):
        raise FetchFailed("This is not a sitemap (no <urlset> or <sitemapindex>).")
    locations = []
    for entry in root:
        for child in entry:
            if _local(child.tag) == "loc" and child.text and child.text.strip():
                locations.append(child.text.strip())
    return kind, locations


def _same_site(url: str, base: str) -> bool:
    """The sitemaps protocol: a sitemap lists pages of its own host (and scheme)."""
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme.lower(), a.netloc.lower()) == (b.scheme.lower(), b.netloc.lower())


def sitemap_pages(sitemap: Fetched, robots: Robots) -> SitemapPages:
    """The page URLs of a fetched sitemap, following one level of sitemap index, deduped,
    of the sitemap's own site only, capped at ``KNOWLEDGE_SITEMAP_MAX_URLS``."""
    limit = settings.KNOWLEDGE_SITEMAP_MAX_URLS
    kind, locations = parse_sitemap(sitemap.body)
    if kind == "sitemapindex":
        children = [u for u in locations if _same_site(u, sitemap.url)]
        pages: list[str] = []
        complete = len(children) <= settings.KNOWLEDGE_SITEMAP_MAX_CHILDREN
        for child_url in children[: settings.KNOWLEDGE_SITEMAP_MAX_CHILDREN]:
            try:
                robots.check(child_url)
                child = fetch(child_url)
                if child.status != 200:
                    raise FetchFailed(f"{child_url} answered {child.status}")
                child_kind, child_locations = parse_sitemap(child.body)
            except FetchFailed as exc:
                logger.info("sitemap %s of %s skipped: %s", child_url, sitemap.url, exc.message)
                complete = False
                continue
            if child_kind == "urlset":  # an index inside an index is not followed
                pages.extend(child_locations)
            if len(pages) > limit:
                break
        locations = pages
    else:
        complete = True
    result = SitemapPages(complete=complete)
    seen: set[str] = set()
    for location in locations:
        url = urldefrag(urljoin(sitemap.url, location)).url
        if url in seen or len(url) > MAX_URL_LENGTH or not _same_site(url, sitemap.url):
            continue
        if len(result.urls) >= limit:
            result.truncated = True
            break
        seen.add(url)
        result.urls.append(url)
    return result

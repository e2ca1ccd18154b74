"""Fetching web pages and sitemaps for URL documents: every request goes through the
outbound HTTP policy (core/outbound.py: scheme allow-list, DNS pinned, private ranges
refused, every redirect hop checked), with this feature's own size and time caps, a
conditional request when the last fetch left an ETag or Last-Modified, and robots.txt
respected (RFC 9309: a robots.txt that answers 4xx allows everything; one that cannot be
read refuses everything until it can). robots.txt is cached and each host's crawl delay
kept across workers (knowledge_base/web_politeness.py).

Sitemaps (sitemaps.org protocol) are parsed with defusedxml (no DTD, no entities) under
the byte cap, gzip-compressed ones (``sitemap.xml.gz``) decompressed under the same cap,
and only their first ``KNOWLEDGE_SITEMAP_MAX_URLS`` pages are kept.
"""

from __future__ import annotations

import logging
import time
import zlib
from dataclasses import dataclass, field
from urllib.parse import urldefrag, urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import httpx2
from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException
from django.conf import settings

from core import outbound
from knowledge_base import web_politeness

logger = logging.getLogger(__name__)

ROBOTS_MAX_BYTES = 512 * 1024
# Longest a sitemap index's read waits out crawl delays (half the fetch lease, web_queue).
FETCH_WAIT_BUDGET_SECONDS = 7 * 60
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


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class Robots:
    """robots.txt of each origin, read once per instance (one fetch run) and from the
    shared cache when another fetch read it lately (web_politeness)."""

    def __init__(self) -> None:
        self._parsers: dict[str, RobotFileParser | None] = {}

    def _parser(self, url: str) -> RobotFileParser | None:
        origin = _origin(url)
        if origin not in self._parsers:
            self._parsers[origin] = self._load(origin)
        return self._parsers[origin]

    def check(self, url: str) -> None:
        """Raise RobotsRefused when the origin's robots.txt disallows ``url`` to us."""
        parser = self._parser(url)
        if parser is None:
            raise RobotsRefused(
                "The site's robots.txt could not be read; the page was not fetched."
            )
        if not parser.can_fetch(settings.KNOWLEDGE_WEB_USER_AGENT, url):
            raise RobotsRefused("The site's robots.txt does not allow fetching this page.")

    def delay(self, url: str) -> float:
        """Seconds to keep between requests to ``url``'s host: its robots.txt's
        ``Crawl-delay`` (or ``Request-rate``) for us, within our bounds."""
        parser = self._parser(url)
        requested = None
        if parser is not None:
            agent = settings.KNOWLEDGE_WEB_USER_AGENT
            requested = parser.crawl_delay(agent)
            rate = parser.request_rate(agent)
            if requested is None and rate is not None and rate.requests:
                requested = rate.seconds / rate.requests
        return web_politeness.host_delay(float(requested) if requested is not None else None)

    def wait_turn(self, url: str) -> float:
        """Reserve the host's next moment for ``url``; returns the seconds until it."""
        return web_politeness.host_reserve(urlsplit(url).netloc.lower(), self.delay(url))

    @staticmethod
    def _parsed(text: str) -> RobotFileParser:
        parser = RobotFileParser()
        if text == web_politeness.ALLOW_ALL:
            parser.allow_all = True
        else:
            parser.parse(text.splitlines())
        return parser

    @classmethod
    def _load(cls, origin: str) -> RobotFileParser | None:
        cached = web_politeness.robots_cached(origin)
        if cached is not None:
            return cls._parsed(cached)
        try:
            with _client() as client, client.stream("GET", f"{origin}/robots.txt") as response:
                if 400 <= response.status_code < 500:
                    web_politeness.robots_remember(origin, web_politeness.ALLOW_ALL)
                    return cls._parsed(web_politeness.ALLOW_ALL)
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
        text = body.decode("utf-8", errors="replace")
        web_politeness.robots_remember(origin, text)
        return cls._parsed(text)


# -- sitemaps -----------------------------------------------------------------------------


@dataclass
class SitemapPages:
    urls: list[str] = field(default_factory=list)
    truncated: bool = False  # more pages than KNOWLEDGE_SITEMAP_MAX_URLS
    # False when a sitemap of the index could not be read: its pages are not "gone".
    complete: bool = True


def _local(tag: str) -> str:
    return tag.removeprefix(_SITEMAP_NS)


_GZIP_MAGIC = b"\x1f\x8b"


def _gunzip(body: bytes) -> bytes:
    """A gzip-compressed sitemap's XML, refused beyond ``KNOWLEDGE_WEB_MAX_BYTES`` once
    decompressed (a small file can expand a thousandfold: never decompressed whole)."""
    limit = settings.KNOWLEDGE_WEB_MAX_BYTES
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        xml = inflater.decompress(body, limit + 1)
    except zlib.error:
        raise FetchFailed("This is not a sitemap (its gzip compression is broken).") from None
    if len(xml) > limit or inflater.unconsumed_tail:
        raise FetchFailed(f"The sitemap is larger than the {limit:,} bytes allowed, unpacked.")
    return xml


def parse_sitemap(body: bytes) -> tuple[str, list[str]]:
    """("urlset" | "sitemapindex", the <loc> values in order). FetchFailed when it is not
    a sitemap (or carries a DTD or entities, which defusedxml refuses). A gzip-compressed
    sitemap (``.xml.gz``: its bytes start with gzip's magic number) is unpacked first."""
    if body.startswith(_GZIP_MAGIC):
        body = _gunzip(body)
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
        # The children are read in this task, each after the host's crawl delay, within
        # half the fetch's lease; the rest are left for the next read (not "gone").
        budget = time.monotonic() + FETCH_WAIT_BUDGET_SECONDS
        for child_url in children[: settings.KNOWLEDGE_SITEMAP_MAX_CHILDREN]:
            try:
                robots.check(child_url)
                wait = robots.wait_turn(child_url)
                if time.monotonic() + wait > budget:
                    complete = False
                    break
                time.sleep(wait)
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

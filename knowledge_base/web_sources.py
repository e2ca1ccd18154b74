"""Documents from URLs: a web page, or every page of a sitemap, kept in a collection.

A URL document is a ``Document`` with source ``url`` and a ``source_url``. Its fetch
(``web_page_fetch``) reads the page through the outbound policy (knowledge_base/web_fetch.py),
extracts its main content in the extraction sandbox, and keeps the readable text as
Markdown in ``Document.text``, with ``sha256`` the text's hash: only a page whose text
changed is queued for ingestion again (the ordinary pipeline, knowledge_base/ingestion.py,
reads it like pasted text). A page answering 404 or 410 leaves the collection.

A ``Sitemap`` brings its pages in as URL documents (``Document.sitemap``); each sitemap
fetch adds the pages that appeared and deletes those that left it.

Schedule and leases: ``next_fetch_at`` is both when the next fetch is due and the
fetch's lease. Whoever queues a fetch (the service that adds a page, the due sweep run
by beat) moves it ``FETCH_LEASE`` ahead and sends that value with the task; the task
claims the row only if the value is still the same, and moves it again. So a duplicate
delivery finds nothing to claim, and a fetch whose worker died (or whose message was
lost) is due again once its lease has passed: the sweep queues it anew. Nothing is
written until a fetch has its answer, so a killed fetch loses nothing.
"""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_tenants.utils import schema_context

from audit.models import AuditAction
from audit.services import Actor, audit_record
from billing import quotas
from core import outbound
from core.dependencies import require_broker
from core.lookups import person
from core.tenancy import current_organization, require_tenant_schema
from knowledge_base import extraction, web_fetch, web_politeness
from knowledge_base.collection_counts import collection_refresh_counts
from knowledge_base.extraction.sandbox import extract_isolated
from knowledge_base.file_processing import extraction_limits
from knowledge_base.models import (
    Collection,
    Document,
    DocumentSource,
    DocumentStatus,
    FetchStatus,
    Sitemap,
)
from knowledge_base.services import UploadOutcome, document_delete, document_enqueue
from knowledge_base.web_queue import (
    FETCH_LEASE,
    queue_page_fetch,
    queue_page_fetch_at,
    queue_sitemap_fetch,
)

logger = logging.getLogger(__name__)

MIN_REFRESH_MINUTES = 5

_READABLE_TYPES = {
    "text/html": extraction.HTML,
    "application/xhtml+xml": extraction.HTML,
    "text/plain": extraction.PLAIN,
    "text/markdown": extraction.MARKDOWN,
}


# -- adding -------------------------------------------------------------------------------


def _check_url(url: str) -> None:
    """The field error for a URL the outbound policy would never fetch (a scheme other
    than http(s), credentials in it, a private or loopback address)."""
    try:
        outbound.validate_url(url)
    except outbound.InvalidURL as exc:
        raise ValidationError({"url": [str(exc)]}) from None


def _refresh_minutes(value: int | None) -> int:
    minutes = settings.KNOWLEDGE_WEB_REFRESH_MINUTES if value is None else value
    if minutes and minutes < MIN_REFRESH_MINUTES:
        raise ValidationError(
            {"refresh_minutes": [f"Use 0 (never) or at least {MIN_REFRESH_MINUTES} minutes."]}
        )
    return minutes


def _new_page(
    collection: Collection, url: str, refresh_minutes: int, user, sitemap=None, now=None
) -> Document:
    now = now or timezone.now()
    document = Document.objects.create(
        collection=collection,
        title=url[:300],
        source=DocumentSource.URL,
        source_url=url,
        sitemap=sitemap,
        content_type="text/html",
        refresh_minutes=refresh_minutes,
        fetch_status=FetchStatus.PENDING,
        next_fetch_at=now + FETCH_LEASE,
        created_by=person(user),
    )
    queue_page_fetch(document.pk, document.next_fetch_at)
    return document


@transaction.atomic
def document_add_url(
    *, collection: Collection, url: str, refresh_minutes: int | None = None, actor: Actor
) -> UploadOutcome:
    """Add a web page to the collection: stored at once as a pending URL document, its
    fetch queued. A page already in the collection is reported as a duplicate."""
    require_tenant_schema()
    _check_url(url)
    minutes = _refresh_minutes(refresh_minutes)
    existing = Document.objects.filter(
        collection=collection, source=DocumentSource.URL, source_url=url
    ).first()
    if existing is not None:
        return UploadOutcome(url, None, duplicate_of=existing)
    require_broker()
    quotas.quota_check_documents(current_organization(), count=1, size_bytes=0)
    document = _new_page(collection, url, minutes, actor.user)
    collection_refresh_counts(collection_id=collection.id)
    audit_record(
        actor=actor,
        action=AuditAction.WEB_PAGE_ADDED,
        target=document,
        changes={"url": url, "collection": str(collection.pk), "refresh_minutes": minutes},
    )
    return UploadOutcome(url, document)


@transaction.atomic
def sitemap_add(
    *, collection: Collection, url: str, refresh_minutes: int | None = None, actor: Actor
) -> Sitemap:
    """Add a sitemap (or sitemap index): its fetch, queued, brings its pages in."""
    require_tenant_schema()
    _check_url(url)
    minutes = _refresh_minutes(refresh_minutes)
    if Sitemap.objects.filter(collection=collection, url=url).exists():
        raise ValidationError({"url": ["This sitemap is already in the collection."]})
    require_broker()
    lease_until = timezone.now() + FETCH_LEASE
    sitemap = Sitemap.objects.create(
        collection=collection,
        url=url,
        refresh_minutes=minutes,
        next_fetch_at=lease_until,
        created_by=person(actor.user),
    )
    queue_sitemap_fetch(sitemap.pk, lease_until)
    audit_record(
        actor=actor,
        action=AuditAction.SITEMAP_ADDED,
        target=sitemap,
        changes={"url": url, "collection": str(collection.pk), "refresh_minutes": minutes},
    )
    return sitemap


@transaction.atomic
def sitemap_delete(*, sitemap: Sitemap, actor: Actor) -> None:
    """The sitemap and the pages it brought leave the collection."""
    pages = list(sitemap.documents.select_related("file"))
    audit_record(
        actor=actor,
        action=AuditAction.SITEMAP_DELETED,
        target=sitemap,
        changes={"url": sitemap.url, "pages": len(pages)},
    )
    for document in pages:
        document_delete(document=document)
    sitemap.delete()


# -- fetching -----------------------------------------------------------------------------


def _claim(model, pk, lease: str | None, now: datetime) -> bool:
    """Take the fetch of ``pk`` for this delivery: its lease value is still the one it
    was queued with (``lease``), or (a direct call, ``lease`` None) it is due."""
    rows = model.objects.filter(pk=pk)
    if lease is None:
        rows = rows.filter(next_fetch_at__lte=now)
    else:
        moment = parse_datetime(lease)
        if moment is None:
            return False
        rows = rows.filter(next_fetch_at=moment)
    return bool(rows.update(next_fetch_at=now + FETCH_LEASE))


def _next_fetch(minutes: int | None, now: datetime) -> datetime | None:
    return now + timedelta(minutes=minutes) if minutes else None


def _readable_text(fetched: web_fetch.Fetched) -> tuple[str, str]:
    """(title, the page's readable text as Markdown), extracted in the sandbox."""
    media_type = fetched.content_type.split(";", 1)[0].strip().lower()
    content_type = _READABLE_TYPES.get(media_type)
    if content_type is None:
        raise extraction.UnsupportedContent(
            f"The page is not HTML or text (its content type is {media_type or 'missing'})."
        )
    document = extract_isolated(
        fetched.body,
        content_type,
        limits=extraction_limits(),
        main_content=content_type == extraction.HTML,
    )
    return (document.title or "").strip(), _as_markdown(document)


def _as_markdown(document: extraction.ExtractedDocument) -> str:
    """Sections under their headings, so chunking keeps each passage's section."""
    lines: list[str] = []
    heading: str | None = None
    for section in document.sections:
        if section.heading and section.heading != heading:
            parts = section.heading.split(" > ")
            lines.append(f"{'#' * min(len(parts), 6)} {parts[-1]}")
            heading = section.heading
        lines.append(section.text)
    return "\n\n".join(lines).strip()


def _record_failure(document: Document, message: str, status: str, now: datetime) -> str:
    fields = {
        "fetch_status": status,
        "fetch_error": message[:500],
        "fetched_at": now,
        "next_fetch_at": _next_fetch(document.refresh_minutes, now),
        "updated_at": now,
    }
    if not document.sha256:
        # Never read: nothing to search, and the list says why.
        fields.update(status=DocumentStatus.FAILED, error=message[:1000])
    Document.objects.filter(pk=document.pk).update(**fields)
    return status


def web_page_fetch(
    *,
    document_id,
    lease: str | None = None,
    now: datetime | None = None,
    turn_reserved: bool = False,
) -> str:
    """Fetch a URL document (the body of its task). Returns what happened: ``changed``
    (new text, queued for ingestion), ``unchanged``, ``removed`` (404/410: deleted),
    ``failed``, ``blocked`` (robots.txt), ``deferred`` (queued again for the host's next
    turn: its crawl delay) or ``skipped`` (another delivery has it)."""
    require_tenant_schema()
    now = now or timezone.now()
    if not _claim(Document, document_id, lease, now):
        return "skipped"
    document = Document.objects.filter(pk=document_id, source=DocumentSource.URL).first()
    if document is None:
        return "skipped"
    known = bool(document.sha256)  # its text was read before: ask only for a change
    try:
        robots = web_fetch.Robots()
        robots.check(document.source_url)
        if not turn_reserved:
            wait = robots.wait_turn(document.source_url)
            if wait > web_politeness.SHORT_WAIT_SECONDS:
                return _defer(document, wait)
            time.sleep(wait)
        fetched = web_fetch.fetch(
            document.source_url,
            etag=document.etag if known else "",
            last_modified=document.last_modified if known else "",
        )
        if fetched.gone:
            if known:
                logger.info("web page %s is gone (%s): deleted", document.pk, fetched.status)
                document_delete(document=document)
                return "removed"
            raise web_fetch.FetchFailed(
                f"The page was not found (the server answered {fetched.status})."
            )
        if fetched.not_modified:
            return _record_unchanged(document, fetched, now)
        title, text = _readable_text(fetched)
    except web_fetch.RobotsRefused as exc:
        return _record_failure(document, exc.message, FetchStatus.BLOCKED, now)
    except web_fetch.FetchFailed as exc:
        return _record_failure(document, exc.message, FetchStatus.FAILED, now)
    except extraction.DocumentError as exc:
        return _record_failure(document, exc.message, FetchStatus.FAILED, now)
    sha256 = hashlib.sha256(text.encode()).hexdigest()
    if sha256 == document.sha256:
        return _record_unchanged(document, fetched, now)
    return _store_changed(document, fetched, title, text, sha256, now)


@transaction.atomic
def _defer(document: Document, wait: float) -> str:
    """Hand the fetch to a delivery at the host's reserved turn: the lease moves to that
    moment (the due sweep takes over if that delivery is lost)."""
    moment = timezone.now() + timedelta(seconds=wait)
    Document.objects.filter(pk=document.pk).update(next_fetch_at=moment)
    queue_page_fetch_at(document.pk, moment, wait)
    return "deferred"


def _record_unchanged(document: Document, fetched: web_fetch.Fetched, now: datetime) -> str:
    fields = {
        "fetch_status": FetchStatus.UNCHANGED,
        "fetch_error": "",
        "fetched_at": now,
        "next_fetch_at": _next_fetch(document.refresh_minutes, now),
    }
    if fetched.etag or fetched.last_modified:
        fields.update(etag=fetched.etag, last_modified=fetched.last_modified)
    Document.objects.filter(pk=document.pk).update(**fields)
    return "unchanged"


@transaction.atomic
def _store_changed(
    document: Document, fetched: web_fetch.Fetched, title: str, text: str, sha256: str, now
) -> str:
    """The new text replaces the old, and a new version is queued for ingestion (whose
    run replaces the chunks; until then search keeps the old ones out, as for a
    reprocess)."""
    current = Document.objects.select_for_update().filter(pk=document.pk).first()
    if current is None:  # deleted meanwhile
        return "skipped"
    current.text = text
    current.sha256 = sha256
    current.size = len(text.encode())
    current.content_type = extraction.MARKDOWN
    current.title = (title or current.source_url)[:300]
    current.etag, current.last_modified = fetched.etag, fetched.last_modified
    current.fetch_status, current.fetch_error = FetchStatus.CHANGED, ""
    current.fetched_at = now
    current.next_fetch_at = _next_fetch(current.refresh_minutes, now)
    current.version += 1
    current.status, current.error = DocumentStatus.PENDING, ""
    current.chunks_done = 0
    current.recovery_attempts = 0
    current.save()
    document_enqueue(current)
    return "changed"


def sitemap_fetch(*, sitemap_id, lease: str | None = None, now: datetime | None = None) -> str:
    """Fetch a sitemap (the body of its task): pages new to it are added (and their
    fetch queued), pages gone from it are deleted. Returns ``changed``, ``unchanged``,
    ``failed``, ``blocked`` or ``skipped``."""
    require_tenant_schema()
    now = now or timezone.now()
    if not _claim(Sitemap, sitemap_id, lease, now):
        return "skipped"
    sitemap = Sitemap.objects.select_related("collection").filter(pk=sitemap_id).first()
    if sitemap is None:
        return "skipped"
    robots = web_fetch.Robots()
    known = sitemap.fetch_status in (FetchStatus.CHANGED, FetchStatus.UNCHANGED)
    try:
        robots.check(sitemap.url)
        time.sleep(robots.wait_turn(sitemap.url))  # at most the longest crawl delay
        fetched = web_fetch.fetch(
            sitemap.url,
            etag=sitemap.etag if known else "",
            last_modified=sitemap.last_modified if known else "",
        )
        if fetched.gone:
            # The pages stay: a sitemap that went away says nothing about them.
            raise web_fetch.FetchFailed(
                f"The sitemap was not found (the server answered {fetched.status})."
            )
        if fetched.not_modified:
            _sitemap_record(sitemap, FetchStatus.UNCHANGED, "", now)
            return "unchanged"
        pages = web_fetch.sitemap_pages(fetched, robots)
    except web_fetch.RobotsRefused as exc:
        _sitemap_record(sitemap, FetchStatus.BLOCKED, exc.message, now)
        return "blocked"
    except web_fetch.FetchFailed as exc:
        _sitemap_record(sitemap, FetchStatus.FAILED, exc.message, now)
        return "failed"
    try:
        _sitemap_sync(sitemap, pages, now)
    except quotas.QuotaExceeded as exc:
        _sitemap_record(sitemap, FetchStatus.FAILED, exc.message, now)
        return "failed"
    note = (
        f"Only the first {len(pages.urls):,} pages are kept (KNOWLEDGE_SITEMAP_MAX_URLS)."
        if pages.truncated
        else ""
    )
    Sitemap.objects.filter(pk=sitemap.pk).update(
        etag=fetched.etag, last_modified=fetched.last_modified
    )
    _sitemap_record(sitemap, FetchStatus.CHANGED, note, now)
    return "changed"


@transaction.atomic
def _sitemap_sync(sitemap: Sitemap, pages: web_fetch.SitemapPages, now: datetime) -> None:
    collection = sitemap.collection
    listed = set(pages.urls)
    mine = {d.source_url: d for d in sitemap.documents.select_related("file")}
    new = [url for url in pages.urls if url not in mine]
    # A page already in the collection (added by hand, or by another sitemap) stays its own.
    elsewhere = set(
        Document.objects.filter(
            collection=collection, source=DocumentSource.URL, source_url__in=new
        ).values_list("source_url", flat=True)
    )
    new = [url for url in new if url not in elsewhere]
    if new:
        quotas.quota_check_documents(current_organization(), count=len(new), size_bytes=0)
    for url in new:
        _new_page(collection, url, sitemap.refresh_minutes, sitemap.created_by, sitemap, now)
    if pages.complete:
        for url, document in mine.items():
            if url not in listed:
                document_delete(document=document)
    Sitemap.objects.filter(pk=sitemap.pk).update(
        page_count=Document.objects.filter(sitemap=sitemap).count()
    )
    collection_refresh_counts(collection_id=collection.pk)


def _sitemap_record(sitemap: Sitemap, status: str, error: str, now: datetime) -> None:
    Sitemap.objects.filter(pk=sitemap.pk).update(
        fetch_status=status,
        fetch_error=error[:500],
        fetched_at=now,
        next_fetch_at=_next_fetch(sitemap.refresh_minutes, now),
        updated_at=now,
    )


# -- the schedule ---------------------------------------------------------------------------


def web_sources_refresh_due(*, now: datetime | None = None, limit: int | None = None) -> dict:
    """Queue the fetch of every page and sitemap of this organization that is due (its
    interval has passed, or the lease of a fetch whose worker died has), at most
    ``limit`` of each, the longest waiting first. Safe to run twice and concurrently:
    rows are locked (others skip them) and each queued one gets a new lease value."""
    require_tenant_schema()
    now = now or timezone.now()
    limit = settings.KNOWLEDGE_WEB_REFRESH_BATCH if limit is None else limit
    lease_until = now + FETCH_LEASE
    with transaction.atomic():
        pages = list(
            Document.objects.select_for_update(skip_locked=True)
            .filter(source=DocumentSource.URL, next_fetch_at__lte=now)
            .order_by("next_fetch_at")
            .values_list("pk", flat=True)[:limit]
        )
        Document.objects.filter(pk__in=pages).update(next_fetch_at=lease_until)
        for pk in pages:
            queue_page_fetch(pk, lease_until)
        sitemaps = list(
            Sitemap.objects.select_for_update(skip_locked=True)
            .filter(next_fetch_at__lte=now)
            .order_by("next_fetch_at")
            .values_list("pk", flat=True)[:limit]
        )
        Sitemap.objects.filter(pk__in=sitemaps).update(next_fetch_at=lease_until)
        for pk in sitemaps:
            queue_sitemap_fetch(pk, lease_until)
    return {"pages": len(pages), "sitemaps": len(sitemaps)}


def web_sources_refresh_due_everywhere() -> dict:
    """The due sweep in every organization's schema (the beat task runs in public)."""
    from users.models import Organization

    totals = {"pages": 0, "sitemaps": 0}
    schemas = Organization.objects.exclude(schema_name=settings.PUBLIC_SCHEMA_NAME).values_list(
        "schema_name", flat=True
    )
    for schema in schemas:
        with schema_context(schema):
            result = web_sources_refresh_due()
        totals = {key: totals[key] + result[key] for key in totals}
    return totals


def never_fetched() -> Q:
    """URL documents whose page was never read: the ingestion sweep leaves them to the
    fetch schedule (there is no text to ingest yet)."""
    return Q(source=DocumentSource.URL, sha256="")

"""Documents from URLs: fetching through the outbound policy, main-content extraction,
the refresh schedule (changed re-ingested, unchanged not, removed deleted), sitemaps,
robots.txt, and fetch leases. Against a real HTTP server on loopback (``site``)."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_tenants.utils import schema_context

from audit.services import Actor
from core import outbound
from knowledge_base import ingestion, leases, web_sources
from knowledge_base.models import Document, DocumentChunk, DocumentStatus, FetchStatus, Sitemap
from tests.factories import process_pending


def page(title: str, body: str) -> str:
    return f"""<!doctype html><html><head><title>{title}</title>
<script>var tracking = "SCRIPT-NOISE";</script><style>.x{{color:red}}</style></head>
<body>
<header><a href="/">Home</a> HEADER-NOISE</header>
<nav><a href="/a">NAV-NOISE menu</a></nav>
<main><h1>{title}</h1><h2>Details</h2><p>{body}</p></main>
<aside>SIDEBAR-NOISE related links</aside>
<footer>FOOTER-NOISE copyright</footer>
</body></html>"""


def add_page(org, collection, url, **fields):
    with schema_context(org.slug):
        outcome = web_sources.document_add_url(
            collection=collection, url=url, actor=Actor(user=org.admin), **fields
        )
        return outcome.document


def fetch(org, document, now=None):
    """Run the fetch the way its task does: with the lease value it was queued with."""
    with schema_context(org.slug):
        lease = Document.objects.get(pk=document.pk).next_fetch_at.isoformat()
        return web_sources.web_page_fetch(document_id=document.pk, lease=lease, now=now)


def fetch_sitemap(org, sitemap, now=None):
    with schema_context(org.slug):
        lease = Sitemap.objects.get(pk=sitemap.pk).next_fetch_at.isoformat()
        return web_sources.sitemap_fetch(sitemap_id=sitemap.pk, lease=lease, now=now)


def reload(org, document):
    with schema_context(org.slug):
        return Document.objects.filter(pk=document.pk).first()


def chunks_text(org, document) -> str:
    with schema_context(org.slug):
        return " ".join(
            DocumentChunk.objects.filter(document=document).values_list("content", flat=True)
        )


def test_a_page_is_fetched_its_main_content_kept_and_ingested(org_a, collection, site):
    # given: a page with the usual boilerplate around its main content
    url = site.page("/guide", page("Refund guide", "Refunds are paid within 14 days."))
    document = add_page(org_a, collection, url)
    assert document.status == DocumentStatus.PENDING and document.fetch_status == "pending"

    # when: its fetch runs, then the ingestion it queued
    assert fetch(org_a, document) == "changed"
    results = process_pending(org_a)

    # then: the page's text is searchable, without its scripts, navigation or chrome
    assert [r.status for r in results] == ["completed"]
    document = reload(org_a, document)
    assert document.title == "Refund guide"
    assert document.status == DocumentStatus.COMPLETED
    assert document.fetch_status == FetchStatus.CHANGED and document.fetched_at
    text = chunks_text(org_a, document)
    assert "Refunds are paid within 14 days." in text
    for noise in ("SCRIPT", "HEADER", "NAV", "SIDEBAR", "FOOTER"):
        assert f"{noise}-NOISE" not in text
    with schema_context(org_a.slug):
        section = DocumentChunk.objects.filter(document=document).first().section_title
    assert "Details" in section
    # the request named us and came through the policy (the server saw it)
    assert site.requests[-1][1]["User-Agent"].startswith("AssistantPlatformBot")


def test_the_schedule_reingests_a_changed_page_not_an_unchanged_one_and_deletes_a_removed_one(
    org_a, collection, site
):
    # given: three pages, fetched and ingested, refreshed every hour
    changing = add_page(
        org_a,
        collection,
        site.page("/a", page("A", "Old text of A."), etag='"a1"'),
        refresh_minutes=60,
    )
    steady = add_page(
        org_a, collection, site.page("/b", page("B", "Text of B."), etag='"b1"'), refresh_minutes=60
    )
    no_etag = add_page(
        org_a, collection, site.page("/c", page("C", "Text of C.")), refresh_minutes=60
    )
    removed = add_page(
        org_a, collection, site.page("/d", page("D", "Text of D.")), refresh_minutes=60
    )
    for document in (changing, steady, no_etag, removed):
        assert fetch(org_a, document) == "changed"
    process_pending(org_a)
    with schema_context(org_a.slug):
        steady_chunks = list(
            DocumentChunk.objects.filter(document=steady).values_list("pk", flat=True)
        )
    versions = {d.pk: reload(org_a, d).version for d in (changing, steady, no_etag)}

    # when: the site changes A, keeps B (same ETag) and C (same text, no ETag), drops D
    site.page("/a", page("A", "New text of A about parcels."), etag='"a2"')
    site.pages["/d"] = (410, {}, b"gone")
    later = timezone.now() + timedelta(minutes=61)
    with schema_context(org_a.slug):
        # nothing is due before the interval has passed...
        assert web_sources.web_sources_refresh_due(now=timezone.now())["pages"] == 0
        # ...and an hour later all four are
        assert web_sources.web_sources_refresh_due(now=later)["pages"] == 4
    outcomes = {d.pk: fetch(org_a, d, now=later) for d in (changing, steady, no_etag, removed)}

    # then: A changed and is ingested again; B and C are not; D is gone
    assert outcomes == {
        changing.pk: "changed",
        steady.pk: "unchanged",
        no_etag.pk: "unchanged",
        removed.pk: "removed",
    }
    assert ("/b", "304") and any(
        path == "/b" and headers.get("If-None-Match") == '"b1"' for path, headers in site.requests
    )
    assert reload(org_a, removed) is None
    assert reload(org_a, steady).version == versions[steady.pk]
    assert reload(org_a, no_etag).version == versions[no_etag.pk]
    assert reload(org_a, changing).version == versions[changing.pk] + 1
    assert [r.status for r in process_pending(org_a)] == ["completed"]  # A only
    assert "parcels" in chunks_text(org_a, changing)
    with schema_context(org_a.slug):
        assert list(DocumentChunk.objects.filter(document=steady).values_list("pk", flat=True)) == (
            steady_chunks
        )
        steady_now = Document.objects.get(pk=steady.pk)
        assert steady_now.fetch_status == FetchStatus.UNCHANGED
        assert steady_now.next_fetch_at == later + timedelta(minutes=60)


def test_a_fetch_runs_once_and_a_fetch_whose_worker_died_is_due_again(org_a, collection, site):
    url = site.page("/p", page("P", "Text of P."))
    document = add_page(org_a, collection, url)
    queued_with = reload(org_a, document).next_fetch_at.isoformat()
    with schema_context(org_a.slug):
        # given: a delivery took the fetch (it moved the lease on) and its worker died
        # before an answer came: nothing was written but the lease
        assert web_sources._claim(Document, document.pk, queued_with, timezone.now())
        # when: the same message is delivered again, it finds its lease value gone
        assert web_sources.web_page_fetch(document_id=document.pk, lease=queued_with) == "skipped"
        # and the due sweep leaves a live lease alone
        assert web_sources.web_sources_refresh_due()["pages"] == 0
        # then: once the lease has passed, the sweep queues the fetch again
        after_lease = timezone.now() + web_sources.FETCH_LEASE + timedelta(seconds=1)
        assert web_sources.web_sources_refresh_due(now=after_lease)["pages"] == 1
    assert site.paths().count("/p") == 0  # the dead fetch never reached the server
    with schema_context(org_a.slug):
        requeued_with = Document.objects.get(pk=document.pk).next_fetch_at.isoformat()
        for outcome in ("changed", "skipped"):  # the message delivered twice: one fetch
            assert (
                web_sources.web_page_fetch(
                    document_id=document.pk, lease=requeued_with, now=after_lease
                )
                == outcome
            )
    assert site.paths().count("/p") == 1
    # and the ingestion sweep never took the unread page for a stalled document
    with schema_context(org_a.slug):
        Document.objects.filter(pk=document.pk).update(sha256="", status="pending")
        Document.objects.filter(pk=document.pk).update(
            updated_at=timezone.now() - timedelta(days=1)
        )
        result = leases.documents_recover_stalled(
            requeue=lambda *_: None, fail=ingestion.fail_document
        )
    assert result == {"requeued": 0, "failed": 0}


def test_robots_txt_is_respected(org_a, collection, site):
    site.pages["/robots.txt"] = (
        200,
        {"Content-Type": "text/plain"},
        b"User-agent: *\nDisallow: /private\n",
    )
    allowed = add_page(org_a, collection, site.page("/public", page("Open", "Open text.")))
    refused = add_page(org_a, collection, site.page("/private/x", page("Closed", "Closed text.")))

    assert fetch(org_a, allowed) == "changed"
    assert fetch(org_a, refused) == FetchStatus.BLOCKED

    refused = reload(org_a, refused)
    assert refused.status == DocumentStatus.FAILED
    assert "robots.txt" in refused.error
    assert "/private/x" not in site.paths()


def test_robots_txt_is_read_once_for_many_pages_of_a_site(org_a, collection, site):
    site.robots("User-agent: *\nDisallow: /private\n")
    documents = [
        add_page(org_a, collection, site.page(f"/p{n}", page(f"P{n}", f"Text {n}.")))
        for n in range(3)
    ]
    assert [fetch(org_a, d) for d in documents] == ["changed"] * 3
    # one read, shared by the three fetches (each its own task in production)
    assert site.paths().count("/robots.txt") == 1


def test_a_crawl_delay_defers_the_next_page_of_the_host_to_its_turn(org_a, collection, site):
    site.robots("User-agent: *\nCrawl-delay: 30\n")
    first = add_page(org_a, collection, site.page("/first", page("First", "One.")))
    second = add_page(org_a, collection, site.page("/second", page("Second", "Two.")))

    assert fetch(org_a, first) == "changed"
    asked_at = timezone.now()
    assert fetch(org_a, second) == "deferred"

    # the second page was not asked for: its fetch moved to the host's next turn
    assert "/second" not in site.paths()
    turn = reload(org_a, second).next_fetch_at
    assert timedelta(seconds=27) < turn - asked_at < timedelta(seconds=33)
    # the delivery queued for that turn fetches it without waiting again
    with schema_context(org_a.slug):
        outcome = web_sources.web_page_fetch(
            document_id=second.pk, lease=turn.isoformat(), turn_reserved=True
        )
    assert outcome == "changed" and site.paths().count("/second") == 1


def test_a_gzip_sitemap_is_read_and_a_gzip_bomb_is_refused(org_a, collection, site, settings):
    site.page("/one", page("One", "Text of one."))
    packed = site.gzip("/sitemap.xml.gz", SITEMAP.format(urls(site, "/one")).encode())
    sitemap = add_sitemap(org_a, collection, packed)
    assert fetch_sitemap(org_a, sitemap) == "changed"
    assert set(sitemap_pages(org_a, sitemap)) == {site.url("/one")}

    settings.KNOWLEDGE_WEB_MAX_BYTES = 100_000
    bomb = site.gzip("/bomb.xml.gz", b"<urlset>" + b" " * 5_000_000 + b"</urlset>")
    assert len(site.pages["/bomb.xml.gz"][2]) < 10_000  # small on the wire
    hostile = add_sitemap(org_a, collection, bomb)
    assert fetch_sitemap(org_a, hostile) == "failed"
    with schema_context(org_a.slug):
        assert "100,000 bytes" in Sitemap.objects.get(pk=hostile.pk).fetch_error


def test_a_page_the_policy_refuses_is_a_field_error_or_an_unreachable_fetch(
    org_a, collection, site, settings
):
    url = site.page("/p", page("P", "Text."))
    with schema_context(org_a.slug):
        # a literal private address and a non-http scheme never get stored
        for bad in ("http://169.254.169.254/latest/meta-data/", "ftp://example.com/x"):
            with pytest.raises(ValidationError) as error:
                web_sources.document_add_url(collection=collection, url=bad, actor=Actor())
            assert "url" in error.value.message_dict
    # a name that resolves to loopback later (DNS rebinding) is refused at fetch time
    document = add_page(org_a, collection, url.replace("127.0.0.1", "pages.example.com"))
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    with outbound.resolver_override(lambda host, port: ["127.0.0.1"]):
        assert fetch(org_a, document) == FetchStatus.FAILED
    document = reload(org_a, document)
    assert document.error == outbound.UNREACHABLE_MESSAGE
    assert site.requests == []


def test_a_page_over_the_size_cap_is_refused(org_a, collection, site, settings):
    settings.KNOWLEDGE_WEB_MAX_BYTES = 2000
    document = add_page(org_a, collection, site.page("/big", page("Big", "word " * 2000)))
    assert fetch(org_a, document) == FetchStatus.FAILED
    assert "larger than the 2,000 bytes" in reload(org_a, document).error


def test_a_first_fetch_answering_404_fails_with_the_reason_and_is_kept(org_a, collection, site):
    document = add_page(org_a, collection, site.url("/missing"))
    assert fetch(org_a, document) == FetchStatus.FAILED
    document = reload(org_a, document)
    assert document.status == DocumentStatus.FAILED
    assert "404" in document.error


SITEMAP = """<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{}</urlset>"""
INDEX = """<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{}</sitemapindex>"""


def urls(site, *paths) -> str:
    return "".join(f"<url><loc>{site.url(p)}</loc></url>" for p in paths)


def add_sitemap(org, collection, url, **fields):
    with schema_context(org.slug):
        return web_sources.sitemap_add(
            collection=collection, url=url, actor=Actor(user=org.admin), **fields
        )


def sitemap_pages(org, sitemap) -> dict:
    with schema_context(org.slug):
        return {d.source_url: d for d in Document.objects.filter(sitemap=sitemap)}


def test_a_sitemap_index_brings_its_pages_and_follows_their_changes(org_a, collection, site):
    for path in ("/one", "/two", "/three", "/four"):
        site.page(path, page(path.strip("/").title(), f"Text of {path}."))
    site.xml("/pages-1.xml", SITEMAP.format(urls(site, "/one", "/two")))
    site.xml(
        "/pages-2.xml",
        SITEMAP.format(
            urls(site, "/three") + "<url><loc>https://elsewhere.example.com/x</loc></url>"
        ),
    )
    index = site.xml(
        "/sitemap.xml",
        INDEX.format(
            f"<sitemap><loc>{site.url('/pages-1.xml')}</loc></sitemap>"
            f"<sitemap><loc>{site.url('/pages-2.xml')}</loc></sitemap>"
        ),
    )
    sitemap = add_sitemap(org_a, collection, index, refresh_minutes=30)

    # when: the sitemap is fetched, then its pages
    assert fetch_sitemap(org_a, sitemap) == "changed"
    pages = sitemap_pages(org_a, sitemap)
    # then: its site's pages are documents (another site's page is not)
    assert set(pages) == {site.url("/one"), site.url("/two"), site.url("/three")}
    for document in pages.values():
        assert document.refresh_minutes == 30
        assert fetch(org_a, document) == "changed"
    assert len(process_pending(org_a)) == 3
    with schema_context(org_a.slug):
        assert Sitemap.objects.get(pk=sitemap.pk).page_count == 3

    # when: /two leaves the sitemap and /four joins it, and the sitemap is due again
    site.xml("/pages-1.xml", SITEMAP.format(urls(site, "/one", "/four")))
    later = timezone.now() + timedelta(minutes=31)
    with schema_context(org_a.slug):
        assert web_sources.web_sources_refresh_due(now=later)["sitemaps"] == 1
    assert fetch_sitemap(org_a, sitemap, now=later) == "changed"

    # then: /two is deleted with its chunks, /four is added
    pages = sitemap_pages(org_a, sitemap)
    assert set(pages) == {site.url("/one"), site.url("/three"), site.url("/four")}
    with schema_context(org_a.slug):
        assert not DocumentChunk.objects.filter(document__source_url=site.url("/two")).exists()


def test_a_sitemap_is_capped_and_a_hostile_one_is_refused(org_a, collection, site, settings):
    settings.KNOWLEDGE_SITEMAP_MAX_URLS = 2
    many = site.xml("/many.xml", SITEMAP.format(urls(site, "/1", "/2", "/3", "/4")))
    sitemap = add_sitemap(org_a, collection, many)
    assert fetch_sitemap(org_a, sitemap) == "changed"
    assert len(sitemap_pages(org_a, sitemap)) == 2
    with schema_context(org_a.slug):
        assert "first 2 pages" in Sitemap.objects.get(pk=sitemap.pk).fetch_error

    laughs = site.xml(
        "/laughs.xml",
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><urlset><url><loc>&lol2;</loc></url></urlset>',
    )
    hostile = add_sitemap(org_a, collection, laughs)
    assert fetch_sitemap(org_a, hostile) == "failed"
    with schema_context(org_a.slug):
        hostile = Sitemap.objects.get(pk=hostile.pk)
    assert hostile.fetch_status == FetchStatus.FAILED
    assert "not a sitemap" in hostile.fetch_error
    assert sitemap_pages(org_a, hostile) == {}


def test_deleting_a_sitemap_deletes_its_pages(org_a, collection, site):
    site.page("/one", page("One", "Text of one."))
    sitemap = add_sitemap(org_a, collection, site.xml("/s.xml", SITEMAP.format(urls(site, "/one"))))
    fetch_sitemap(org_a, sitemap)
    (document,) = sitemap_pages(org_a, sitemap).values()
    fetch(org_a, document)
    process_pending(org_a)
    with schema_context(org_a.slug):
        web_sources.sitemap_delete(sitemap=sitemap, actor=Actor(user=org_a.admin))
        assert not Document.objects.filter(pk=document.pk).exists()
        assert not DocumentChunk.objects.filter(document_id=document.pk).exists()


def test_the_beat_sweep_covers_every_organization(org_a, collection, site, settings):
    from config.celery import app

    assert "knowledge_base.web_sources_refresh_due" in {
        entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()
    }
    assert {"knowledge_base.web_page_fetch", "knowledge_base.sitemap_fetch"} <= set(app.tasks)
    document = add_page(org_a, collection, site.page("/p", page("P", "Text.")))
    with schema_context(org_a.slug):
        Document.objects.filter(pk=document.pk).update(
            next_fetch_at=timezone.now() - timedelta(minutes=1)
        )
    # run from the public schema, as beat does
    assert web_sources.web_sources_refresh_due_everywhere()["pages"] >= 1
    assert reload(org_a, document).next_fetch_at > timezone.now()


def test_a_sitemap_that_could_not_be_read_whole_deletes_nothing(org_a, collection, site):
    for path in ("/one", "/two"):
        site.page(path, page(path.strip("/").title(), f"Text of {path}."))
    site.xml("/p1.xml", SITEMAP.format(urls(site, "/one")))
    site.xml(
        "/p2.xml",
        SITEMAP.format(urls(site, "/two") + f"<url><loc>{site.url('/' + 'x' * 1200)}</loc></url>"),
    )
    index = site.xml(
        "/index.xml",
        INDEX.format(
            f"<sitemap><loc>{site.url('/p1.xml')}</loc></sitemap>"
            f"<sitemap><loc>{site.url('/p2.xml')}</loc></sitemap>"
        ),
    )
    sitemap = add_sitemap(org_a, collection, index, refresh_minutes=30)
    assert fetch_sitemap(org_a, sitemap) == "changed"
    # (a URL longer than a document's source_url can hold is left out)
    assert set(sitemap_pages(org_a, sitemap)) == {site.url("/one"), site.url("/two")}

    # when: one sitemap of the index fails at the next fetch
    site.pages["/p2.xml"] = (503, {}, b"busy")
    later = timezone.now() + timedelta(minutes=31)
    with schema_context(org_a.slug):
        web_sources.web_sources_refresh_due(now=later)
    assert fetch_sitemap(org_a, sitemap, now=later) == "changed"

    # then: its pages are not taken for gone
    assert set(sitemap_pages(org_a, sitemap)) == {site.url("/one"), site.url("/two")}


def test_reprocessing_a_page_never_read_fetches_it(org_a, collection, site):
    from knowledge_base import services

    document = add_page(org_a, collection, site.url("/later"))
    assert fetch(org_a, document) == FetchStatus.FAILED  # 404 at first
    site.page("/later", page("Later", "Text that came later."))
    with schema_context(org_a.slug):
        services.document_reprocess(document=Document.objects.get(pk=document.pk))
    # the fetch was queued (a fresh lease, not the day-long wait), not an ingestion of
    # an empty text (no new version)
    queued = reload(org_a, document)
    assert queued.version == 1
    assert queued.next_fetch_at <= timezone.now() + web_sources.FETCH_LEASE
    assert fetch(org_a, document) == "changed"
    assert [r.status for r in process_pending(org_a)] == ["completed"]
    assert "came later" in chunks_text(org_a, document)

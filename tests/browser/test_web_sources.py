"""A collection's documents from URLs in the dashboard: "Add from URL" for a page and for a
sitemap, fetched and processed by the platform's worker from a real local site, each
shown with its source URL, when it was last fetched and how that went; a URL the
outbound policy refuses is a field error in the form."""

import pytest
from playwright.sync_api import expect

from knowledge_base.tests.web_site import Site
from tests.browser.conftest import login, snap

ARTICLE = """<!doctype html><html><head><title>{title}</title></head><body>
<nav>Home · Pricing · Blog</nav><main><h1>{title}</h1><p>{text}</p></main>
<footer>Copyright</footer></body></html>"""


@pytest.fixture
def site():
    server = Site()
    yield server
    server.close()


def add_from_url(page, kind: str, url: str, refresh: str = "Every day") -> None:
    page.get_by_role("button", name="Add from URL").click()
    dialog = page.get_by_role("dialog", name="Add from URL")
    dialog.get_by_label("A web page" if kind == "page" else "Every page of a sitemap").check()
    dialog.get_by_label("Page URL" if kind == "page" else "Sitemap URL").fill(url)
    dialog.get_by_label("Fetch again").select_option(label=refresh)
    dialog.get_by_role("button", name="Add", exact=True).click()


def test_add_a_page_and_a_sitemap_from_urls(page, globex, site):
    site.page("/returns", ARTICLE.format(title="Returns policy", text="Returns within 30 days."))
    for name in ("faq", "contact"):
        site.page(f"/{name}", ARTICLE.format(title=name.title(), text=f"All about {name}."))
    sitemap = site.xml(
        "/sitemap.xml",
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<url><loc>{site.url('/faq')}</loc></url><url><loc>{site.url('/contact')}</loc></url>"
        "</urlset>",
    )
    login(page, globex, "admin")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Knowledge").click()
    page.get_by_role("link", name="Acme handbook").click()
    expect(page.get_by_role("heading", name="Acme handbook", level=1)).to_be_visible()

    # a private address is refused by the outbound policy, in the form
    page.watch.expect_refusal(400)
    add_from_url(page, "page", "http://10.0.0.8/intranet")
    dialog = page.get_by_role("dialog", name="Add from URL")
    expect(dialog.get_by_test_id("field-error-url")).to_contain_text("not allowed")
    dialog.get_by_role("button", name="Cancel").click()

    # a page: fetched, its main content processed, shown with its source and fetch
    add_from_url(page, "page", site.url("/returns"), refresh="Every hour")
    row = page.get_by_test_id("document-row").filter(has_text="Returns policy")
    expect(row.get_by_test_id("document-status")).to_have_text("completed", timeout=90_000)
    expect(row.get_by_test_id("source-url")).to_have_text(site.url("/returns"))
    expect(row.get_by_test_id("fetch-status")).to_have_text("updated")
    expect(row.get_by_test_id("fetched-at")).to_contain_text("fetched")
    expect(row).to_contain_text("refreshed every hour")

    # a sitemap: its two pages arrive as documents
    add_from_url(page, "sitemap", sitemap)
    sitemap_row = page.get_by_test_id("sitemap-row")
    expect(sitemap_row).to_contain_text(sitemap)
    for title in ("Faq", "Contact"):
        row = page.get_by_test_id("document-row").filter(has_text=title)
        expect(row.get_by_test_id("document-status")).to_have_text("completed", timeout=90_000)
    page.reload()
    expect(page.get_by_test_id("sitemap-pages")).to_have_text("2")
    expect(page.get_by_test_id("sitemap-row").get_by_test_id("fetch-status")).to_have_text(
        "updated"
    )
    snap(page, "collection-web-sources")
    page.get_by_role("button", name="Add from URL").click()
    snap(page, "collection-add-from-url")

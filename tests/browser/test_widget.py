"""The embeddable widget on a page of another site: a static page served from another
local port embeds it with one script tag and chats (streamed answer with its sources);
the same page on a host that is not allowed gets nothing; a forged Origin is refused;
a visitor past the per-address limit is told so."""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import snap

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Globex shop</title>
<link rel="icon" href="data:,">
<meta name="viewport" content="width=device-width, initial-scale=1">
</head><body><h1>Globex shop</h1><p>Our products, and a helpful assistant.</p>
<script src="{org}/widget.js" data-widget="{widget}" async></script>
</body></html>"""


class Site:
    """Another site: a static page on a port of its own, embedding ``widget``."""

    def __init__(self, org_url: str):
        self.org_url = org_url
        self.pages: dict[str, str] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                widget = self.path.strip("/").split("?")[0]
                if widget not in site.pages:
                    self.send_error(404)
                    return
                body = site.pages[widget].encode()
                self.send_response(200)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def embed(self, widget: str) -> None:
        self.pages[widget] = PAGE.format(org=self.org_url, widget=widget)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _widget(
    platform, *, name: str, domains: list[str], per_address: int = 20, files: bool = False
) -> str:
    out = platform.shell(
        f"""
from django_tenants.utils import schema_context
from assistants.models import Assistant
from audit.services import Actor
from integrations.widget import services
from users.models import Organization
organization = Organization.objects.get(schema_name="globex")
with schema_context("globex"):
    assistant = Assistant.objects.get(name="Help Center")
    widget = services.widget_create(
        organization=organization, actor=Actor(), name={name!r}, assistant_id=assistant.pk,
        title="Globex help", welcome_message="Hello! Ask me about Globex.",
        suggested_questions=["How do I install the desktop app?"],
        allowed_domains={domains!r}, primary_color="#7c3aed",
        messages_per_minute_per_address={per_address}, file_upload_enabled={files!r},
    )
print("WIDGET", widget.public_id)
"""
    )
    return re.search(r"WIDGET (\S+)", out).group(1)


@pytest.fixture(scope="module")
def site(platform, globex):
    running = Site(globex.url)
    yield running
    running.stop()


def test_an_allowed_site_embeds_the_widget_and_chats_with_citations(
    new_page, platform, globex, site
):
    widget = _widget(platform, name="Shop", domains=[f"localhost:{site.port}"])
    site.embed(widget)
    page = new_page()
    page.goto(f"http://localhost:{site.port}/{widget}")

    bubble = page.get_by_role("button", name="Open chat: Globex help")
    expect(bubble).to_be_visible()
    snap(page, "widget-closed")
    bubble.click()
    dialog = page.get_by_role("dialog", name="Globex help")
    expect(dialog.get_by_text("Hello! Ask me about Globex.")).to_be_visible()
    # this widget takes no files: no paper clip
    expect(dialog.get_by_role("button", name="Attach a file")).to_have_count(0)
    dialog.get_by_role("button", name="How do I install the desktop app?").click()

    answer = dialog.locator(".msg.assistant").last
    expect(answer.get_by_role("list", name="Sources")).to_be_visible(timeout=30_000)
    expect(answer.locator("sup.cite").first).to_be_visible()
    expect(answer.get_by_role("button", name="Helpful", exact=True)).to_be_visible()
    snap(page, "widget-answer")

    # feedback is stored; a reload continues the conversation (token in localStorage)
    answer.get_by_role("button", name="Helpful", exact=True).click()
    expect(answer.get_by_role("button", name="Helpful", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    page.reload()
    page.get_by_role("button", name="Open chat: Globex help").click()
    expect(page.locator(".msg.user")).to_have_text(["How do I install the desktop app?"])
    expect(page.get_by_role("button", name="Helpful", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    assert not page.context.cookies(globex.url), "the widget must not use platform cookies"


def test_a_site_that_is_not_allowed_gets_nothing(new_page, platform, globex, site):
    widget = _widget(platform, name="Elsewhere", domains=["shop.example.test"])
    site.embed(widget)
    page = new_page()
    # the browser withholds the refusal from the page (no CORS header) and says so
    page.watch.allow("CORS policy")
    page.watch.allow("net::ERR_FAILED")

    with page.expect_event("requestfailed", lambda r: "/config" in r.url):
        page.goto(f"http://localhost:{site.port}/{widget}")

    page.wait_for_timeout(500)
    expect(page.get_by_role("button", name=re.compile("Open chat"))).to_have_count(0)
    # what the server answered that page's origin
    status, body = platform.request(
        "GET",
        f"{globex.url}/api/v1/widget/{widget}/config",
        headers={"Origin": f"http://localhost:{site.port}"},
    )
    assert status == 403 and body["error"]["code"] == "origin_refused", body


def test_a_forged_origin_is_refused(platform, globex, site):
    widget = _widget(platform, name="Forged", domains=[f"localhost:{site.port}"])
    url = f"{globex.url}/api/v1/widget/{widget}/chat"
    body = {"message": "How do I install the desktop app?"}

    status, answer = platform.request(
        "POST",
        url,
        body,
        headers={"Origin": f"http://localhost:{site.port}", "Referer": "https://evil.example/"},
    )
    assert status == 403 and answer["error"]["code"] == "origin_refused", answer
    status, answer = platform.request("POST", url, body)  # neither header
    assert status == 403, answer


def test_a_visitor_past_the_limit_is_told_to_wait(new_page, platform, globex, site):
    widget = _widget(platform, name="Limited", domains=[f"localhost:{site.port}"], per_address=1)
    site.embed(widget)
    page = new_page()
    page.watch.expect_refusal(429)
    page.goto(f"http://localhost:{site.port}/{widget}")
    page.get_by_role("button", name="Open chat: Globex help").click()
    box = page.get_by_label("Your message")

    box.fill("How do I install the desktop app?")
    box.press("Enter")
    expect(page.locator(".msg.assistant").last.get_by_role("list", name="Sources")).to_be_visible(
        timeout=30_000
    )
    box.fill("And on Linux?")
    box.press("Enter")

    expect(page.locator(".msg.error")).to_contain_text("Too many messages")
    snap(page, "widget-rate-limited")


WARRANTY = "Warranty card.\n\nThe Globex toaster carries a warranty of seven years from purchase.\n"


def test_a_visitor_attaches_a_file_and_the_answer_cites_it(new_page, platform, globex, site):
    widget = _widget(platform, name="Files", domains=[f"localhost:{site.port}"], files=True)
    site.embed(widget)
    page = new_page()
    page.goto(f"http://localhost:{site.port}/{widget}")
    page.get_by_role("button", name="Open chat: Globex help").click()
    dialog = page.get_by_role("dialog", name="Globex help")

    with page.expect_file_chooser() as chooser:
        dialog.get_by_role("button", name="Attach a file").click()
    chooser.value.set_files(
        files=[{"name": "warranty.txt", "mimeType": "text/plain", "buffer": WARRANTY.encode()}]
    )
    expect(dialog.get_by_label("Attached files")).to_contain_text("warranty.txt")
    box = dialog.get_by_label("Your message")
    box.fill("How long is the toaster warranty?")
    box.press("Enter")

    expect(dialog.locator(".msg.user").last).to_contain_text("warranty.txt")
    answer = dialog.locator(".msg.assistant").last
    sources = answer.get_by_role("list", name="Sources")
    expect(sources).to_be_visible(timeout=30_000)
    expect(sources).to_contain_text("warranty.txt")
    expect(answer).to_contain_text("seven years")
    expect(answer.locator("sup.cite").first).to_be_visible()
    expect(dialog.get_by_label("Attached files")).to_be_empty()  # sent with that question
    snap(page, "widget-file-answer")
    # a reload continues the conversation, the file named on its question
    page.reload()
    page.get_by_role("button", name="Open chat: Globex help").click()
    expect(page.locator(".msg.user").last).to_contain_text("Attached: warranty.txt")
    assert not page.context.cookies(globex.url), "the widget must not use platform cookies"

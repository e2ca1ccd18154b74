"""The browser extension (integrations/browser_extension), unpacked into Debian's
Chromium (a persistent context with --load-extension, headless): it signs in with an
API key, saves the page the user is reading to a collection (the extension sends the
text it read; the platform fetches nothing), then answers a question about that page
with the page as a cited source."""

from __future__ import annotations

import re
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from playwright.sync_api import expect

from tests.browser.conftest import snap
from tests.browser.harness import CHROMIUM, ROOT

EXTENSION = ROOT / "integrations" / "browser_extension"
ARTICLE = b"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Zorblatt 3000 warranty</title><link rel="icon" href="data:,"></head>
<body><main><h1>Zorblatt 3000 warranty</h1>
<p>The Zorblatt 3000 vacuum robot carries a warranty of seven years on its motor.</p>
<p>Batteries of the Zorblatt 3000 are covered for two years.</p></main></body></html>"""


def _serve_article() -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(ARTICLE)))
            self.end_headers()
            self.wfile.write(ARTICLE)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _api_key(platform) -> str:
    out = platform.shell(
        """
from django_tenants.utils import schema_context
from audit.services import Actor
from integrations.services import api_key_create
from users.models import Organization
organization = Organization.objects.get(schema_name="globex")
with schema_context("globex"):
    _, key = api_key_create(
        organization=organization, name="Browser extension",
        scopes=["chat:write", "assistants:read", "knowledge:read", "knowledge:write"],
        actor=Actor(),
    )
print("KEY", key)
"""
    )
    return re.search(r"KEY (\S+)", out).group(1)


def test_the_extension_saves_the_page_and_answers_about_it(platform, globex, chromium):
    key = _api_key(platform)
    server = _serve_article()
    article_url = f"http://127.0.0.1:{server.server_address[1]}/zorblatt"
    try:
        # The package's Playwright (one per thread: a second sync_playwright() inside the
        # running one is refused), its Chromium launched again with the extension.
        with tempfile.TemporaryDirectory() as profile:
            context = chromium.browser_type.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=[f"--disable-extensions-except={EXTENSION}", f"--load-extension={EXTENSION}"],
            )
            try:
                worker = (
                    context.service_workers[0]
                    if context.service_workers
                    else (context.wait_for_event("serviceworker"))
                )
                extension_id = worker.url.split("/")[2]
                article = context.pages[0] if context.pages else context.new_page()
                article.goto(article_url)
                panel = context.new_page()
                panel.goto(f"chrome-extension://{extension_id}/sidepanel.html")

                # sign in with the key
                panel.get_by_label("Organization address").fill(globex.url)
                panel.get_by_label("API key").fill(key)
                panel.get_by_role("button", name="Sign in").click()
                expect(panel.get_by_label("Assistant")).to_contain_text("Help Center")

                # save the page the user is reading to the handbook
                panel.get_by_text("Save this page to a collection").click()
                panel.get_by_label("Collection").select_option(label="Acme handbook")
                panel.get_by_role("button", name="Save page").click()
                expect(panel.get_by_role("status")).to_contain_text("Saved", timeout=15_000)
                _wait_processed(platform, "Zorblatt 3000 warranty")

                # ask about it: the answer quotes the page, which it cites
                panel.get_by_label("Assistant").select_option(label="Help Center")
                panel.get_by_label("Your question").fill(
                    "How long is the Zorblatt 3000 motor warranty?"
                )
                panel.get_by_role("button", name="Ask").click()
                answer = panel.locator(".msg.assistant").last
                expect(answer).to_contain_text("seven years", timeout=30_000)
                expect(answer.get_by_role("list", name="Sources")).to_contain_text("Zorblatt")
                snap(panel, "extension-side-panel")

                # the key is kept: a new panel is signed in at once
                again = context.new_page()
                again.goto(f"chrome-extension://{extension_id}/sidepanel.html")
                expect(again.get_by_role("region", name="Chat")).to_be_visible()
            finally:
                context.close()
    finally:
        server.shutdown()
        server.server_close()


def _wait_processed(platform, title: str) -> None:
    platform.shell(
        f"""
import time
from django_tenants.utils import schema_context
from knowledge_base.models import Document
deadline = time.monotonic() + 60
with schema_context("globex"):
    while time.monotonic() < deadline:
        document = Document.objects.filter(title__icontains={title!r}).first()
        if document is not None and document.status in ("completed", "failed"):
            break
        time.sleep(0.5)
    assert document is not None and document.status == "completed", document and document.status
"""
    )

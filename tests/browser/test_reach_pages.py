"""The Webhooks and Website widget pages: an admin adds an endpoint (its secret shown
once), sends a test event that the worker delivers to a local receiver verifying the
signature, reads the delivery log; then configures a widget with a live preview and
copies its snippet."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from integrations.webhooks.tests.receiver import Receiver
from tests.browser.conftest import login, snap


def test_webhook_endpoint_created_tested_and_logged(new_page, platform, globex):
    receiver = Receiver().start()
    try:
        page = new_page()
        login(page, globex, "admin")
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Webhooks").click()
        expect(page.get_by_role("heading", name="Webhooks", level=1)).to_be_visible()

        page.get_by_role("button", name="New endpoint").click()
        dialog = page.get_by_role("dialog", name="New webhook endpoint")
        dialog.get_by_label("URL").fill(receiver.url)
        dialog.get_by_label("Description (optional)").fill("CRM")
        dialog.get_by_role("checkbox", name="chat.message.completed").check()
        dialog.get_by_role("button", name="Create endpoint").click()
        shown = page.get_by_role("dialog", name="Signing secret")
        receiver.secret = shown.get_by_test_id("webhook-secret").inner_text().strip()
        assert receiver.secret.startswith("whsec_")
        shown.get_by_role("button", name="Done").click()

        row = page.get_by_test_id("webhook-row").filter(has_text=receiver.url)
        expect(row).to_contain_text("active")
        row.get_by_role("button", name=f"Deliveries of {receiver.url}").click()
        log = page.get_by_role("region", name="Delivery log")
        log.get_by_role("button", name="Send test event").click()

        # the worker delivers it; the receiver verifies the signature
        delivery = log.get_by_test_id("delivery-row").first
        for _ in range(30):
            log.get_by_role("button", name="Refresh").click()
            if "succeeded" in delivery.inner_text():
                break
            page.wait_for_timeout(1000)
        expect(delivery).to_contain_text("succeeded")
        assert [r.verified for r in receiver.received] == [True]
        delivery.get_by_role("button", name="Details").click()
        expect(log.get_by_test_id("delivery-detail")).to_contain_text("webhook-id")
        snap(page, "webhooks")
    finally:
        receiver.stop()


def test_widget_configured_with_a_live_preview_and_a_snippet(new_page, globex):
    page = new_page(permissions=["clipboard-read", "clipboard-write"])
    login(page, globex, "admin")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Website widget").click()
    expect(page.get_by_role("heading", name="Website widget", level=1)).to_be_visible()

    page.get_by_role("button", name="New widget").click()
    editor = page.get_by_role("region", name="New widget")
    editor.get_by_label("Name", exact=True).fill("Support site")
    editor.get_by_label("Assistant").select_option(label="Help Center")
    editor.get_by_label("Title").fill("Acme support")
    preview = editor.get_by_test_id("widget-preview")
    expect(preview).to_contain_text("Acme support")  # live, before saving
    editor.get_by_label("Suggested questions").fill("How do I install the desktop app?")
    expect(preview).to_contain_text("How do I install the desktop app?")
    editor.get_by_label("Allowed domains").fill("shop.example.com\n*.example.org")
    snap(page, "widget-editor")
    editor.get_by_role("button", name="Create widget").click()

    row = page.get_by_test_id("widget-row").filter(has_text="Support site")
    expect(row).to_contain_text("*.example.org, shop.example.com")
    snippet = row.get_by_test_id("widget-snippet").inner_text()
    assert re.match(rf'<script src="{re.escape(globex.url)}/widget.js" data-widget="wgt_', snippet)
    row.get_by_role("button", name="Copy snippet").click()
    assert page.evaluate("navigator.clipboard.readText()") == snippet
    snap(page, "widgets")


def test_a_member_connects_gmail_and_syncs_a_label_with_progress(new_page, platform, globex):
    """Through Google's consent page (the local Google's: the member clicks Allow), back
    to the Integrations page; then a label, a collection, "Sync now" on the platform's
    worker, and the result."""
    google = platform.google
    box = google.mailbox("member@globex.example")
    support = google.label(box, "Support")
    for n, subject in enumerate(["Refund for order 1042", "Invoice address", "Login trouble"]):
        google.receive(
            box,
            sender=f"Customer {n} <c{n}@customer.test>",
            subject=subject,
            body=f"Message about {subject.lower()}.",
            labels=["INBOX", support],
        )
    google.consent_as = box.email
    page = new_page()
    login(page, globex, "member")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Integrations").click()
    card = page.get_by_test_id("gmail-card")
    expect(card).to_contain_text("Connect your own mailbox")
    snap(page, "gmail-connect")

    card.get_by_role("button", name="Connect Gmail").click()

    expect(page.get_by_role("status").filter(has_text="Gmail is connected")).to_be_visible()
    card = page.get_by_test_id("gmail-card")
    expect(card).to_contain_text("Gmail: member@globex.example")
    card.get_by_label("Label to sync").select_option(label="Support")
    card.get_by_label("Into the collection").select_option(index=1)
    card.get_by_role("button", name="Save").click()
    expect(card.get_by_role("button", name="Sync now")).to_be_enabled()
    card.get_by_role("button", name="Sync now").click()
    expect(card).to_contain_text("3 added, 0 updated, 0 removed (full sync)", timeout=60_000)
    snap(page, "gmail")

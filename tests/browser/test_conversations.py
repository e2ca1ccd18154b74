"""Conversation intelligence in the dashboard: a ChatGPT export dropped on the Import
page is imported by the real worker with progress; History finds it in each mode and
"ask your history" streams a cited answer; the conversation's analysis panel shows."""

import json

from playwright.sync_api import expect

from chat.tests import conversation_exports as ex
from tests.browser.conftest import login, snap


def test_import_search_ask_and_analyse(page, globex, tmp_path):
    login(page, globex, "member")
    export = tmp_path / "chatgpt-export.zip"
    export.write_bytes(ex.chatgpt_zip(ex.chatgpt_export(long_turns=20)))
    claude = tmp_path / "conversations.json"
    claude.write_text(json.dumps(ex.claude_export()))

    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Import", exact=True
    ).click()
    expect(page.get_by_role("heading", name="Import conversations", level=1)).to_be_visible()
    page.get_by_test_id("import-input").set_input_files([str(export), str(claude)])
    items = page.get_by_test_id("import-item")
    expect(items).to_have_count(2)
    for index in range(2):
        expect(items.nth(index).get_by_test_id("import-status")).to_have_text(
            "completed", timeout=60_000
        )
    summaries = page.get_by_test_id("import-summary")
    expect(summaries.filter(has_text="chatgpt")).to_contain_text("3 new")
    expect(page.get_by_test_id("import-problems").first).to_contain_text("Broken")
    snap(page, "conversations-import")

    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="History", exact=True
    ).click()
    expect(page.get_by_role("heading", name="History", level=1)).to_be_visible()
    for mode in ("keyword", "vector", "hybrid"):
        page.get_by_label("Search", exact=True).fill("tram 28 in Lisbon")
        page.get_by_role("group", name="Mode").get_by_role("button", name=mode, exact=True).click()
        # The worker indexes the messages right after the import: retry until it has.
        for _ in range(30):
            page.get_by_role("button", name="Search", exact=True).click()
            page.wait_for_load_state("networkidle")
            if page.get_by_test_id("history-hit").count():
                break
            page.wait_for_timeout(1000)
        expect(page.get_by_test_id("history-hit-title").first).to_have_text("Trip to Lisbon")
    expect(page.get_by_test_id("history-hit").first.locator("mark").first).to_be_visible()
    snap(page, "conversations-history")

    page.get_by_label("Ask your history").fill("What was the trip budget?")
    page.get_by_role("button", name="Ask", exact=True).click()
    expect(page.get_by_test_id("ask-answer")).to_contain_text("800 EUR", timeout=30_000)
    excerpts = page.get_by_test_id("ask-excerpts")
    expect(excerpts.locator("li").filter(has_text="cited").first).to_contain_text("Trip to Lisbon")
    snap(page, "conversations-ask")

    page.get_by_test_id("history-hit-title").first.click()
    expect(page.get_by_test_id("chat-title")).to_have_text("Trip to Lisbon")
    page.get_by_test_id("analysis-open").click()
    panel = page.get_by_test_id("analysis-panel")
    expect(panel).to_be_visible()
    if panel.get_by_role("button", name="Analyse now").count():
        panel.get_by_role("button", name="Analyse now").click()
    expect(page.get_by_test_id("analysis-summary")).to_contain_text("Lisbon", timeout=30_000)
    expect(page.get_by_test_id("analysis-topics")).not_to_be_empty()
    snap(page, "conversations-analysis")

"""Conversation intelligence in the dashboard: a ChatGPT export dropped on the Import
page is imported by the real worker with progress; History finds it in each mode and
"ask your history" streams a cited answer; the conversation's analysis panel shows.
An answer that cited a knowledge document links to it from "ask your history"; the
home page shows the topics and sentiment of the analysed conversations; an imported
conversation is continued with another assistant as a new chat.

Each test has an organization of its own (slugs start with "convos"; no hyphens are
allowed in a slug), as the browser tests share one platform."""

import json
import re

import pytest
from playwright.sync_api import expect

from chat.tests import conversation_exports as ex
from tests.browser.conftest import create_organization, login, snap


@pytest.fixture(scope="module")
def convos_acme(platform):
    return create_organization(platform, "convosacme", "Convos Acme")


@pytest.fixture(scope="module")
def convos_initech(platform):
    return create_organization(platform, "convosinitech", "Convos Initech")


def import_through_the_page(page, files) -> None:
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Import", exact=True
    ).click()
    page.get_by_test_id("import-input").set_input_files([str(f) for f in files])
    items = page.get_by_test_id("import-item")
    expect(items).to_have_count(len(files))
    for index in range(len(files)):
        expect(items.nth(index).get_by_test_id("import-status")).to_have_text(
            "completed", timeout=60_000
        )


def test_import_search_ask_and_analyse(page, convos_acme, tmp_path):
    """An export of each format (ChatGPT zip, Claude JSON, Gemini Takeout JSON, the
    generic JSON) imported from the dashboard; each found in History; the trip found in
    all three modes and asked about; its analysis made by the worker after the import."""
    login(page, convos_acme, "member")
    export = tmp_path / "chatgpt-export.zip"
    export.write_bytes(ex.chatgpt_zip(ex.chatgpt_export(long_turns=20)))
    claude = tmp_path / "conversations.json"
    claude.write_text(json.dumps(ex.claude_export()))
    gemini = tmp_path / "MyActivity.json"
    gemini.write_text(json.dumps(ex.gemini_records()))
    generic = tmp_path / "generic.json"
    generic.write_text(json.dumps(ex.generic_export()))

    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Import", exact=True
    ).click()
    expect(page.get_by_role("heading", name="Import conversations", level=1)).to_be_visible()
    page.get_by_test_id("import-input").set_input_files(
        [str(export), str(claude), str(gemini), str(generic)]
    )
    items = page.get_by_test_id("import-item")
    expect(items).to_have_count(4)
    for index in range(4):
        expect(items.nth(index).get_by_test_id("import-status")).to_have_text(
            "completed", timeout=60_000
        )
    summaries = page.get_by_test_id("import-summary")
    expect(summaries.filter(has_text="chatgpt")).to_contain_text("3 new")
    expect(summaries.filter(has_text="gemini")).to_contain_text("2 new")
    expect(summaries.filter(has_text="claude")).to_contain_text("new")
    expect(summaries.filter(has_text="json")).to_contain_text("new")
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
    # The other formats' conversations, by meaning and words together.
    page.get_by_role("group", name="Mode").get_by_role("button", name="hybrid").click()
    for question, title in (
        ("tomatoes for a balcony", "Garden planning"),
        ("marathon training", "marathon"),
        ("quick pasta recipe", "Recipe ideas"),
    ):
        page.get_by_label("Search", exact=True).fill(question)
        page.get_by_role("button", name="Search", exact=True).click()
        expect(page.get_by_test_id("history-hit-title").first).to_contain_text(
            re.compile(title, re.I)
        )
    page.get_by_label("Search", exact=True).fill("tram 28 in Lisbon")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.get_by_test_id("history-hit-title").first).to_have_text("Trip to Lisbon")

    page.get_by_label("Ask your history").fill("What was the trip budget?")
    page.get_by_role("button", name="Ask", exact=True).click()
    expect(page.get_by_test_id("ask-answer")).to_contain_text("800 EUR", timeout=30_000)
    excerpts = page.get_by_test_id("ask-excerpts")
    expect(excerpts.locator("li").filter(has_text="cited").first).to_contain_text("Trip to Lisbon")
    snap(page, "conversations-ask")

    page.get_by_test_id("history-hit-title").first.click()
    expect(page.get_by_test_id("chat-title")).to_have_text("Trip to Lisbon")
    # The worker analyses every imported conversation after the import: no click here.
    panel = page.get_by_test_id("analysis-panel")
    for _ in range(30):
        page.get_by_test_id("analysis-open").click()
        expect(panel).to_be_visible()
        page.wait_for_load_state("networkidle")
        if page.get_by_test_id("analysis-summary").count():
            break
        page.keyboard.press("Escape")
        page.wait_for_timeout(1500)
    expect(page.get_by_test_id("analysis-summary")).to_contain_text("Lisbon")
    expect(page.get_by_test_id("analysis-topics")).not_to_be_empty()
    snap(page, "conversations-analysis")


def test_cited_documents_home_insights_and_continuing(page, convos_initech, tmp_path):
    login(page, convos_initech, "member")

    # A live answer from the Help Center, citing the demo handbook.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Chat").click()
    page.get_by_label("Assistant", exact=True).select_option(label="Help Center")
    page.get_by_test_id("chat-input").fill("How long until a refund is paid back to my card?")
    page.get_by_test_id("chat-input").press("Enter")
    answer = page.get_by_test_id("chat-answer")
    expect(answer).not_to_have_attribute("aria-busy", "true", timeout=30_000)
    expect(answer).to_contain_text("five business days")

    export = tmp_path / "chatgpt-export.zip"
    export.write_bytes(ex.chatgpt_zip(ex.chatgpt_export(long_turns=6)))
    import_through_the_page(page, [export])

    # "Ask your history": the excerpt of that answer links to the document it cited.
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="History", exact=True
    ).click()
    links = page.get_by_test_id("ask-document-link")
    for _ in range(30):  # the worker indexes the answer after it is complete
        page.get_by_label("Ask your history").fill("How long until a refund reaches my card?")
        page.get_by_role("button", name="Ask", exact=True).click()
        expect(page.get_by_role("button", name="Ask", exact=True)).to_be_enabled(timeout=30_000)
        if links.count():
            break
        page.wait_for_timeout(1000)
    expect(links.first).to_have_text(re.compile("billing-and-refunds", re.I))
    snap(page, "conversations-ask-documents")
    links.first.click()
    expect(page).to_have_url(re.compile(r"/knowledge/[^/#]+#document-"))
    linked = page.locator('[data-testid="document-row"][aria-current="true"]')
    expect(linked.get_by_test_id("document-title")).to_have_text(
        re.compile("billing-and-refunds", re.I)
    )

    # The home page: topics and sentiment of the analysed conversations (the import's
    # conversations are analysed by the worker after it).
    insights = page.get_by_test_id("conversation-insights")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Home", exact=True).click()
    for _ in range(40):
        expect(insights).to_be_visible()
        page.wait_for_load_state("networkidle")
        counted = insights.get_by_test_id("insights-count")
        if counted.count() and counted.inner_text() == "3":
            break
        page.wait_for_timeout(1500)
        page.reload()
    # Each of the export's three conversations has its analysis (the live chat is not
    # over, so not analysed yet).
    expect(insights.get_by_test_id("insights-count")).to_have_text("3")
    expect(insights.get_by_test_id("insights-topic").first).to_be_visible()
    expect(insights.get_by_test_id("insights-sentiment")).to_have_text(
        re.compile("positive|neutral|negative")
    )
    expect(insights.get_by_test_id("insights-chart").locator("svg").first).to_be_visible()
    snap(page, "conversations-home-insights")
    # A topic opens History with that search.
    topic = insights.get_by_test_id("insights-topic").first.inner_text().split(" · ")[0]
    insights.get_by_test_id("insights-topic").first.click()
    expect(page.get_by_label("Search", exact=True)).to_have_value(topic)

    # Continue the imported trip with the Help Center, as a new chat.
    page.get_by_label("Search", exact=True).fill("tram 28 Lisbon")
    page.get_by_role("group", name="Mode").get_by_role("button", name="keyword").click()
    page.get_by_role("button", name="Search", exact=True).click()
    page.get_by_test_id("history-hit-title").first.click()
    expect(page.get_by_test_id("chat-title")).to_have_text("Trip to Lisbon")
    page.get_by_test_id("continue-open").click()
    dialog = page.get_by_test_id("continue-modal")
    helper = dialog.locator("option", has_text="Help Center").first.get_attribute("value")
    dialog.get_by_label("Assistant").select_option(value=helper)
    snap(page, "conversations-continue")
    dialog.get_by_test_id("continue-start").click()
    expect(page.get_by_test_id("chat-title")).to_have_text("Trip to Lisbon (continued)")
    expect(page.get_by_test_id("chat-question").first).to_contain_text("trip to Lisbon")
    expect(page.get_by_test_id("chat-answer").filter(has_text="800 EUR").first).to_be_visible()
    page.get_by_test_id("chat-input").fill("How do I get a refund for the trip?")
    page.get_by_test_id("chat-input").press("Enter")
    last = page.get_by_test_id("chat-answer").last
    expect(last).not_to_have_attribute("aria-busy", "true", timeout=30_000)
    expect(last).to_contain_text("refund")
    snap(page, "conversations-continued-chat")

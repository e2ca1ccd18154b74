"""Rerankers in the dashboard (ADR 0100), in Chromium against the running platform: an
admin adds a reranker pointing at a local server speaking the Cohere-style ``/rerank``
wire format (assistants/tests/providers/fake_server.py), the search playground's results
come back in the reranker's order with its scores, a reranker that fails leaves them in
their own order with a note saying so, and an assistant keeps the reranker chosen on its
form."""

import re

import pytest
from playwright.sync_api import expect

from assistants.tests.providers.fake_server import FakeProviderServer, Reply, error
from tests.browser.conftest import create_organization, login, snap

QUERY = "How do I reset my password?"


@pytest.fixture(scope="module")
def reranker_server():
    server = FakeProviderServer(api_key="rk-browser-7Q2w").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def rerankco(platform):
    """An organization of its own: its reranker must not reach other tests' searches."""
    return create_organization(platform, "rerankco", "Rerank Co")


def _search(page, *, rerank: bool, note: str | None = None) -> list[str]:
    """Search the handbook in hybrid mode only (one request, so one scripted reply), top 3
    of 3 candidates; returns the hits' snippets in the order shown, once the results
    carry the rerank ``note`` (the test id that tells these results from the last ones)."""
    page.get_by_label("Query").fill(QUERY)
    page.get_by_label("Top k").fill("3")
    rerank_box = page.get_by_label("Rerank", exact=True)
    if rerank_box.is_checked() != rerank:
        rerank_box.click()
    if rerank:
        page.get_by_label("Candidates to rerank").fill("3")
    page.get_by_role("button", name="Search").click()
    results = page.get_by_test_id("search-results-hybrid")
    if note:
        expect(results.get_by_test_id(note)).to_be_visible()
    expect(results.get_by_test_id("search-hit")).to_have_count(3)
    # The snippet is the hit's own paragraph (a parent-child hit also holds its section's
    # text, folded, in a paragraph of its own).
    return results.get_by_test_id("search-hit").locator(":scope > p").all_inner_texts()


def test_admin_adds_a_reranker_that_reorders_search_and_an_assistant_uses(
    new_page, rerankco, reranker_server
):
    page = new_page()
    login(page, rerankco)

    # given: a reranker added on the credentials page
    page.goto(f"{rerankco.url}/credentials")
    rerankers = page.get_by_role("region", name="Rerankers")
    expect(rerankers.get_by_text("No rerankers")).to_be_visible()
    rerankers.get_by_role("button", name="Add reranker").click()
    dialog = page.get_by_role("dialog", name="Add a reranker")
    dialog.get_by_label("Name").fill("Cross-encoder")
    dialog.get_by_label("Format").select_option("cohere")
    dialog.get_by_label("Base URL").fill(f"{reranker_server.url}/v1")
    dialog.get_by_label("Model").fill("rerank-test")
    dialog.get_by_label("API key (optional)").fill(reranker_server.api_key)
    dialog.get_by_role("button", name="Save reranker").click()
    expect(dialog).to_be_hidden()
    row = rerankers.get_by_test_id("reranker-row")
    expect(row).to_contain_text("Cross-encoder")
    expect(row.get_by_test_id("reranker-key")).to_have_text("••••7Q2w")
    expect(page.locator("body")).not_to_contain_text(reranker_server.api_key)
    snap(page, "rerankers")

    # when: the playground searches without, then with the reranker, which scores the
    # three candidates the other way round
    page.get_by_role("link", name="Search playground").click()
    for mode in ("vector", "keyword"):
        page.get_by_label(mode, exact=True).uncheck()
    fused = _search(page, rerank=False)
    expect(page.get_by_test_id("search-rerank-score")).to_have_count(0)
    reranker_server.enqueue(Reply(scores=[0.1, 0.5, 0.9]))
    reranked = _search(page, rerank=True, note="search-rerank-applied")

    # then: the reranker's order, with its scores
    assert reranked == fused[::-1]
    results = page.get_by_test_id("search-results-hybrid")
    expect(results.get_by_test_id("search-rerank-applied")).to_contain_text("3 candidates")
    expect(results.get_by_test_id("search-rerank-score")).to_have_text(
        [" · rerank score 0.900", " · rerank score 0.500", " · rerank score 0.100"]
    )
    sent = reranker_server.last
    assert sent.path.endswith("/v1/rerank")
    assert sent.body["query"] == QUERY and len(sent.body["documents"]) == 3
    snap(page, "search-reranked")

    # when: the reranker fails; then: the fused order, and a note saying why
    reranker_server.enqueue(error(500, "overloaded"))
    assert _search(page, rerank=True, note="search-rerank-skipped") == fused
    expect(results.get_by_test_id("search-rerank-skipped")).to_contain_text("the reranker failed")
    expect(results.get_by_test_id("search-rerank-score")).to_have_count(0)

    # and: an assistant reranks with it once chosen on its form
    page.get_by_role("link", name="Assistants", exact=True).click()
    page.get_by_test_id("assistant-card").filter(has_text="Help Center").click()
    form = page.get_by_role("form", name="Assistant settings")
    form.get_by_label("Reranker").select_option(label="Cross-encoder")
    form.get_by_label("Candidates to rerank").fill("20")
    form.get_by_role("button", name="Save changes").click()
    expect(form.get_by_text("Saved.")).to_be_visible()
    page.reload()
    expect(form.get_by_label("Reranker")).to_have_value(re.compile(r"^[0-9a-f-]{36}$"))
    expect(form.get_by_label("Reranker").locator("option:checked")).to_have_text("Cross-encoder")
    expect(form.get_by_label("Candidates to rerank")).to_have_value("20")
    snap(page, "assistant-reranker")

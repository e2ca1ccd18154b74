"""A collection's retrieval evaluation in the dashboard: test questions added in the form
and uploaded as CSV, a run started and carried out by the platform's worker with progress,
its figures (nDCG@10, recall@10, MRR per mode) shown in a table and a chart equal to what
the API reports, and the best setting applied to an assistant."""

import re

from playwright.sync_api import expect

from tests.browser.conftest import login, snap

CSV = (
    "question,document,grade\n"
    "how long does a refund take,billing-and-refunds.md,2\n"
    "how do I invite colleagues,getting-started.md,\n"
)


def test_questions_run_and_figures(page, globex, tmp_path):
    login(page, globex, "admin")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Knowledge").click()
    page.get_by_role("link", name="Acme handbook").click()
    page.get_by_role("link", name="Evaluation").click()
    expect(page.get_by_role("heading", name="Evaluation: Acme handbook")).to_be_visible()
    expect(page.get_by_role("button", name="Run evaluation")).to_be_disabled()  # no questions

    # one question in the form, two from a CSV file
    form = page.get_by_test_id("add-question")
    form.get_by_label("Question").fill("I forgot my password")
    form.get_by_label("Documents that answer it").select_option(label="security-and-accounts.md")
    form.get_by_role("button", name="Add question").click()
    table = page.get_by_test_id("questions-table")
    expect(table).to_contain_text("I forgot my password")
    upload = tmp_path / "questions.csv"
    upload.write_text(CSV)
    page.get_by_test_id("questions-file").set_input_files(str(upload))
    expect(table.locator("tbody tr")).to_have_count(3)
    expect(table).to_contain_text("how long does a refund take")

    # a bad file: its lines named, nothing stored
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "x", "documents": ["no-such-document.md"]}\n')
    page.watch.expect_refusal(400)
    page.get_by_test_id("questions-file").set_input_files(str(bad))
    expect(page.get_by_test_id("field-error-file")).to_contain_text(
        "line 1: no single document of the collection is 'no-such-document.md'"
    )
    expect(table.locator("tbody tr")).to_have_count(3)

    # a run: progress, then the figures of each mode
    page.get_by_label("top_k (results per question)").fill("5, 10")
    page.get_by_role("button", name="Run evaluation").click()
    results = page.get_by_test_id("results-table")
    expect(results.locator("tbody tr")).to_have_count(6, timeout=90_000)
    expect(
        page.get_by_test_id("results-chart").locator(".recharts-bar-rectangle").first
    ).to_be_visible()

    # what the API reports (asked from the page: Playwright's own requests do not resolve
    # *.localhost)
    runs_url = page.url.replace("/knowledge/", "/api/v1/collections/").replace(
        "/evaluation", "/evaluation/runs"
    )
    runs = page.evaluate("url => fetch(url).then(r => r.json())", runs_url)
    (run,) = runs["results"]
    assert run["status"] == "completed" and run["questions_total"] == 3
    for result in run["results"]:
        row = page.get_by_test_id(f"result-{result['mode']}-{result['top_k']}")
        for value in (result["ndcg_at_10"], result["recall_at_10"], result["mrr"]):
            expect(row).to_contain_text(f"{value:.3f}")
    hybrid = next(r for r in run["results"] if r["mode"] == "hybrid" and r["top_k"] == 10)
    assert hybrid["recall_at_10"] == 1.0  # three documents: every one found within 10
    snap(page, "collection-evaluation")

    # the best setting applied to an assistant
    apply = page.get_by_test_id("use-settings")
    apply.get_by_role("button", name=re.compile("Use these settings")).click()
    expect(page.get_by_text(re.compile(r"now searches in \w+ mode"))).to_be_visible()

"""The whole journey of a new customer, in Chromium, against the running platform:
sign up -> confirm the e-mail -> log in to the new organization -> a collection and an
uploaded document processed to completed -> an assistant on the local extractive
responder -> a streamed, cited answer whose citation opens the right passage ->
feedback recorded (it survives a reload)."""

import re

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, snap

HANDBOOK = b"""# Initech Employee Handbook

## Parking

Employees park in the blue garage on level three. Visitors get a parking pass at the
front desk and park on level one.

## Expenses

Expense reports are due within thirty days of the purchase, with the receipts attached.

## Holidays

Every employee has twenty-five days of paid holiday a year.
"""
QUESTION = "Where do employees park?"
OFFLINE_MODEL = "Extractive answers (offline, no AI model)"

# How long the page may show "Creating your organization…".
SIGNUP_WAIT_MS = 90_000


def test_sign_up_to_cited_answer(new_page, platform):
    page = new_page()
    email = "founder@initech.example"

    # given: the public site
    page.goto(platform.public_url + "/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    snap(page, "landing")

    # when: someone signs up
    page.get_by_role("link", name="Sign up").click()
    expect(page).to_have_url(re.compile(r"/signup$"))
    page.get_by_label("Your name").fill("Peter Gibbons")
    page.get_by_label("Work e-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Organization name").fill("Initech")
    expect(page.get_by_label("Address")).to_have_value("initech")
    snap(page, "signup")
    page.get_by_role("button", name="Create organization").click()

    # then: the organization exists and a confirmation link is on its way
    # Sign-up creates and migrates the organization's schema: seconds, more on a busy
    # machine (not what this test measures; bench/tenants is where that belongs).
    expect(page.get_by_test_id("signup-verify")).to_contain_text(email, timeout=SIGNUP_WAIT_MS)
    snap(page, "signup-done")
    link = platform.link_in_mail(email, "/verify-email/")
    page.goto(link)
    page.watch.expect_refusal(401)  # allauth: confirmed, logging in comes next
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_test_id("verify-done")).to_be_visible()

    # the new organization's own host
    org_url = platform.org_url("initech")
    page.goto(org_url + "/login")
    expect(page.get_by_role("heading", name="Log in to Initech")).to_be_visible()
    snap(page, "login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("organization-name")).to_have_text("Initech")
    expect(page.get_by_test_id("user-role")).to_have_text("admin")
    snap(page, "home")

    # a collection with an uploaded document, processed by the worker
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Knowledge").click()
    expect(page.get_by_role("heading", name="Knowledge", level=1)).to_be_visible()
    page.get_by_role("button", name="New collection").click()
    dialog = page.get_by_role("dialog", name="New collection")
    dialog.get_by_label("Name").fill("Handbook")
    dialog.get_by_role("button", name="Create collection").click()
    expect(page.get_by_role("heading", name="Handbook", level=1)).to_be_visible()
    page.get_by_test_id("upload-input").set_input_files(
        files=[{"name": "handbook.md", "mimeType": "text/markdown", "buffer": HANDBOOK}]
    )
    expect(page.get_by_test_id("upload-state")).to_contain_text("uploaded")
    row = page.get_by_test_id("document-row").filter(has_text="handbook")
    expect(row.get_by_test_id("document-status")).to_have_text("completed", timeout=90_000)
    snap(page, "collection")

    # an assistant on the offline extractive responder, answering from the collection
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Assistants").click()
    page.get_by_role("link", name="New assistant").click()
    page.get_by_label("Name", exact=True).fill("Handbook Helper")
    page.get_by_label("Description").fill("Answers from the employee handbook.")
    # the catalog's local extractive responder (assistants/catalog/fixtures/ai_models.json)
    model = page.get_by_label("Model", exact=True)
    offline = model.locator("option", has_text=OFFLINE_MODEL)
    model.select_option(value=offline.get_attribute("value"))
    page.get_by_role("checkbox", name="Handbook").check()
    page.get_by_role("button", name="Create assistant").click()
    expect(page.get_by_role("heading", name="Handbook Helper", level=1)).to_be_visible()
    expect(page).to_have_url(re.compile(r"/assistants/[^/]+$"))
    snap(page, "assistant")

    # chat: the answer streams in (SSE) and cites the handbook
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Chat").click()
    page.get_by_label("Assistant", exact=True).select_option(label="Handbook Helper")
    page.get_by_test_id("chat-input").fill(QUESTION)
    with page.expect_response(re.compile(r"/api/v1/chat$")) as answered:
        page.get_by_test_id("chat-input").press("Enter")
    assert answered.value.headers["content-type"].startswith("text/event-stream")
    answer = page.get_by_test_id("chat-answer")
    expect(answer).not_to_have_attribute("aria-busy", "true", timeout=30_000)
    expect(answer).to_contain_text("blue garage")
    expect(page).to_have_url(re.compile(r"/chat/[^/]+$"))
    citation = answer.get_by_test_id("citation").first
    expect(citation).to_have_accessible_name(re.compile(r"^Source \d+: handbook"))

    # the citation opens the passage it came from
    citation.click()
    panel = page.get_by_test_id("source-panel")
    expect(panel.get_by_test_id("source-document")).to_contain_text("handbook")
    expect(panel.get_by_test_id("source-chunk")).to_contain_text("blue garage on level three")
    snap(page, "chat")

    # feedback is stored: still pressed after a reload
    page.get_by_role("button", name="Good answer").click()
    expect(page.get_by_role("button", name="Good answer")).to_have_attribute("aria-pressed", "true")
    page.wait_for_load_state("networkidle")
    page.reload()
    expect(page.get_by_test_id("chat-answer")).to_contain_text("blue garage")
    expect(page.get_by_role("button", name="Good answer")).to_have_attribute("aria-pressed", "true")


def test_sign_up_needs_only_the_required_fields(page, platform):
    """The name is optional in the form; leaving it empty must not be refused."""
    page.goto(platform.public_url + "/signup")
    page.get_by_label("Work e-mail").fill("owner@hooli.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Organization name").fill("Hooli")
    page.get_by_role("button", name="Create organization").click()
    expect(page.get_by_test_id("signup-verify")).to_contain_text(
        "owner@hooli.example", timeout=SIGNUP_WAIT_MS
    )

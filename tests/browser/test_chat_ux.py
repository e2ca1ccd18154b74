"""The chat as people used to ChatGPT expect it (issue 22): Markdown answers with code
blocks to copy, the draft never lost, an admin's read-only view of others' conversations.

The answers with Markdown come from an OpenAI assistant whose credential points at the
local server speaking OpenAI's wire protocol (the one allowed stand-in), started here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from assistants.tests.providers.fake_server import FakeProviderServer, Reply
from tests.browser.conftest import PASSWORD, create_organization, login, snap

YAML = "name: demo\nreplicas: 2\nports:\n  - 8080"
MARKDOWN_ANSWER = (
    "Here is the **deployment** file [1]:\n\n"
    f"```yaml\n{YAML}\n```\n\n"
    "| setting | value |\n|---|---|\n| replicas | 2 |\n\n"
    "<script>window.__xss = 1</script><b>raw html</b>"
)


@pytest.fixture(scope="module")
def provider():
    server = FakeProviderServer(api_key=None).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def acme(platform, provider):
    """uxacme: the starter organization plus "Markdown bot", an OpenAI assistant on the
    local provider server that answers from the demo handbook."""
    organization = create_organization(platform, "uxacme", "UX Acme")
    platform.shell(
        f"""
from django_tenants.utils import schema_context
from assistants import services
from assistants.models import Assistant
from tests.factories import catalog_model
with schema_context("uxacme"):
    services.credential_create(provider="openai", api_key="sk-ux", base_url="{provider.url}/v1")
    helpdesk = Assistant.objects.get(name="Help Center")
    services.assistant_create(
        name="Markdown bot", model=catalog_model("openai/gpt-4o-mini"),
        collections=list(helpdesk.collections.all()), user=None,
    )
"""
    )
    return organization


def open_assistant(page, name: str) -> None:
    page.goto(page.url.split("/", 3)[0] + "//" + page.url.split("/", 3)[2] + "/chat")
    page.get_by_label("Assistant", exact=True).select_option(label=name)


def ask(page, question: str) -> None:
    page.get_by_test_id("chat-input").fill(question)
    page.get_by_role("button", name="Send").click()


def test_an_answer_in_markdown_renders_code_blocks_to_copy_tables_and_no_raw_html(
    new_page, acme, provider
):
    page = new_page()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=acme.url)
    login(page, acme)
    provider.enqueue(Reply(text=MARKDOWN_ANSWER))
    open_assistant(page, "Markdown bot")
    ask(page, "How do I deploy the refund service?")

    answer = page.get_by_test_id("chat-answer").last
    block = answer.get_by_test_id("code-block")
    # The first answer of the platform loads the local embedder (retrieval): be patient.
    expect(block).to_have_count(1, timeout=60_000)
    expect(block.locator("pre")).to_have_text(YAML)
    expect(block).to_contain_text("yaml")
    # Highlighted: the keys are their own spans.
    expect(block.locator(".hljs-attr").first).to_have_text("name:")
    expect(answer.locator("strong")).to_have_text("deployment")
    expect(answer.locator("table th").first).to_have_text("setting")
    expect(answer.locator("table td").nth(1)).to_have_text("2")
    # No raw HTML: neither run nor shown as markup.
    expect(answer.locator("script, b")).to_have_count(0)
    assert page.evaluate("() => window.__xss") is None
    expect(answer).not_to_contain_text("```")

    # The streamed answer is replaced by the stored one when the stream ends, and the
    # copy button's "Copied" (1.5 s) lives in the component: click once it is final.
    expect(answer).not_to_have_attribute("aria-busy", "true")
    expect(answer.get_by_test_id("citation").first).to_be_visible()
    block.get_by_role("button", name="Copy code").click()
    expect(block.get_by_role("button", name="Copy code")).to_have_text("Copied")
    assert page.evaluate("() => navigator.clipboard.readText()") == YAML

    # The citation marker is a chip that opens the source.
    answer.get_by_test_id("citation").first.click()
    expect(page.get_by_test_id("source-panel")).to_be_visible()
    page.get_by_test_id("source-panel").get_by_role("button", name="Close").click()

    page.get_by_role("button", name="Copy answer").click()
    assert page.evaluate("() => navigator.clipboard.readText()") == MARKDOWN_ANSWER
    snap(page, "ux-chat-markdown")


def test_the_two_factor_code_field_is_empty_and_a_code_typed_by_hand_logs_in(
    platform, new_page, acme
):
    from allauth.mfa.totp.internal.auth import (
        format_hotp_value,
        generate_totp_secret,
        hotp_value,
        yield_hotp_counters_from_time,
    )

    secret = generate_totp_secret()
    platform.shell(
        f"""
from allauth.mfa.totp.internal.auth import TOTP
from users.models import User
user = User.objects.get(email="viewer@uxacme.example")
TOTP.activate(user, {secret!r})
"""
    )
    page = new_page()
    page.watch.expect_refusal(401)  # allauth's "a second factor is pending"
    page.goto(f"{acme.url}/login")
    page.get_by_label("E-mail").fill("viewer@uxacme.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    code = page.get_by_label("Authentication code")
    expect(code).to_be_visible()
    expect(code).to_have_value("")
    counter = next(iter(yield_hotp_counters_from_time()))
    code.press_sequentially(format_hotp_value(hotp_value(secret, counter)))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_test_id("user-email")).to_have_text("viewer@uxacme.example")


def ask_and_wait(page, question: str) -> None:
    ask(page, question)
    expect(page.get_by_test_id("chat-answer").last).not_to_have_attribute(
        "aria-busy", "true", timeout=60_000
    )
    expect(page).to_have_url(re.compile(r"/chat/[0-9a-f-]{36}$"))


def test_an_admin_sees_a_members_conversation_only_under_everyones_labelled_and_read_only(
    new_page, acme
):
    member = new_page()
    login(member, acme, "member")
    member.goto(f"{acme.url}/chat")
    ask_and_wait(member, "How long does a refund take?")
    conversation = member.url

    admin = new_page()
    login(admin, acme)
    admin.goto(f"{acme.url}/chat")
    sidebar = admin.get_by_test_id("chat-session-list")
    expect(sidebar).to_be_visible()
    admin.wait_for_load_state("networkidle")
    expect(sidebar.get_by_test_id("session-owner")).to_have_count(0)
    expect(sidebar).not_to_contain_text("Member · read-only")

    admin.get_by_label("Whose conversations").select_option(label="Everyone's (read-only)")
    item = sidebar.get_by_test_id("chat-session").filter(has_text="Member · read-only")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("How long does a refund take?")
    expect(item.get_by_role("button", name=re.compile("^Rename"))).to_have_count(0)
    item.get_by_role("link").click()
    expect(admin).to_have_url(conversation)
    expect(admin.get_by_test_id("read-only-banner")).to_contain_text("belongs to Member")
    expect(admin.get_by_test_id("chat-input")).to_be_disabled()
    expect(admin.get_by_role("button", name="Regenerate")).to_have_count(0)
    expect(admin.get_by_role("button", name="Edit question")).to_have_count(0)
    snap(admin, "ux-chat-admin-read-only")


def test_the_sidebar_search_finds_a_conversation_by_a_word_only_its_answer_holds(
    new_page, acme, provider
):
    page = new_page()
    login(page, acme)
    provider.enqueue(Reply(text="Keep two **replicas** of the ledger service running."))
    open_assistant(page, "Markdown bot")
    ask_and_wait(page, "How should we run the ledger?")

    search = page.get_by_label("Search conversations")
    found = page.get_by_test_id("chat-session").filter(has_text="How should we run the ledger?")
    # The answer is indexed by a task after it is stored: search until it is found.
    for _ in range(40):
        search.fill("")
        search.fill("replica")  # stemmed: "replicas" in the answer, not in the title
        try:
            expect(found).to_have_count(1, timeout=1_000)
            break
        except AssertionError:
            continue
    expect(found).to_have_count(1)
    search.fill("submarine")
    expect(page.get_by_test_id("chat-session")).to_have_count(0)
    expect(page.get_by_test_id("chat-session-list")).to_contain_text("No conversation matches.")
    snap(page, "ux-chat-sidebar-search")


def test_the_draft_survives_a_long_message_a_network_failure_and_an_expired_session(new_page, acme):
    page = new_page()
    login(page, acme, "member")
    page.goto(f"{acme.url}/chat")
    composer = page.get_by_test_id("chat-input")

    # Over the limit: refused before sending, with the limit, the counter shows it.
    long = "refund " * 1200
    composer.fill(long)
    expect(page.get_by_test_id("char-counter")).to_contain_text("8,000")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_test_id("chat-error")).to_contain_text("the limit is 8,000")
    expect(composer).to_have_value(long)

    # A network failure: the draft comes back, with why.
    ask_and_wait(page, "How long does a refund take?")
    page.watch.allow("net::ERR_FAILED")
    page.route("**/api/v1/chat", lambda route: route.abort())
    ask(page, "And for a damaged item?")
    expect(page.get_by_test_id("chat-error")).to_contain_text("could not be reached")
    expect(composer).to_have_value("And for a damaged item?")
    # ...and stays after the conversation reloads.
    expect(page.get_by_test_id("chat-question")).to_have_count(1)
    page.unroute("**/api/v1/chat")

    # An expired session: "log in again", and the draft is there after logging in.
    conversation = page.url
    page.context.clear_cookies()
    page.watch.expect_refusal(401)
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_test_id("chat-error")).to_contain_text("session has expired")
    expect(composer).to_have_value("And for a damaged item?")
    page.get_by_test_id("login-again").click()
    page.get_by_label("E-mail").fill(acme["member"].email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(conversation)
    expect(page.get_by_test_id("chat-input")).to_have_value("And for a damaged item?")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_test_id("chat-question")).to_have_count(2, timeout=30_000)
    expect(page.get_by_test_id("chat-input")).to_have_value("")


def test_test_reply_answers_from_the_knowledge_with_cited_sources(page, acme):
    login(page, acme)
    page.get_by_role("link", name="Assistants").first.click()
    page.get_by_role("link", name="Help Center").first.click()
    page.get_by_label("Test message").fill("How long do I have to ask for a refund?")
    page.get_by_role("button", name="Send test message").click()
    reply = page.get_by_test_id("test-reply")
    expect(reply).to_contain_text("30 days", timeout=60_000)
    expect(reply.get_by_test_id("citation").first).to_be_visible()
    sources = page.get_by_test_id("test-reply-sources")
    expect(sources).to_contain_text(re.compile("refund", re.I))
    expect(sources).to_contain_text("cited")
    snap(page, "ux-assistant-test-reply")


PRODUCT_BACKGROUND = "rgb(246, 247, 251)"  # --bg of frontend/src/styles.css
PRODUCT_ACCENT = "rgb(79, 70, 229)"  # --accent


def test_the_confirmation_link_lands_on_the_products_own_styled_page(platform, new_page):
    key = platform.shell(
        """
from allauth.account.models import EmailAddress, EmailConfirmationHMAC
from users import services
user = services.user_create(email="uxnew@uxacme.example", password="x-long-password-42", name="New")
address = EmailAddress.objects.get_or_create(user=user, email=user.email)[0]
address.verified = False
address.save()
print(EmailConfirmationHMAC(address).key)
"""
    ).split()[-1]
    page = new_page()
    # An old link to allauth's page is sent on to the app's.
    page.goto(f"{platform.public_url}/accounts/confirm-email/{key}/")
    expect(page).to_have_url(f"{platform.public_url}/verify-email/{key}")
    expect(page.get_by_role("heading", name="Confirm your e-mail address")).to_be_visible()
    expect(page.get_by_test_id("verify-email")).to_have_text("uxnew@uxacme.example")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == PRODUCT_BACKGROUND
    snap(page, "ux-verify-email")
    page.watch.expect_refusal(401)  # allauth: confirmed, logging in comes next
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_test_id("verify-done")).to_contain_text("Continue to log in")
    verified = platform.shell(
        """
from allauth.account.models import EmailAddress
print(EmailAddress.objects.get(email="uxnew@uxacme.example").verified)
"""
    )
    assert verified.split()[-1] == "True"
    # The link works once: again, it says so in the product's page.
    page.watch.expect_refusal(400)
    page.goto(f"{platform.public_url}/verify-email/{key}")
    expect(page.get_by_test_id("verify-invalid")).to_be_visible()


def test_allauths_remaining_server_pages_wear_the_products_style(platform, new_page):
    page = new_page()
    page.goto(f"{platform.public_url}/accounts/password/reset/")
    expect(page.get_by_test_id("account-card")).to_be_visible()
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == PRODUCT_BACKGROUND
    button = page.locator("button[type=submit]").first
    assert button.evaluate("(b) => getComputedStyle(b).backgroundColor") == PRODUCT_ACCENT
    snap(page, "ux-allauth-styled")


def test_a_long_conversation_opens_on_its_newest_messages_and_loads_older_ones(
    platform, page, acme
):
    session_id = platform.shell(
        """
from datetime import timedelta
from django.utils import timezone
from django_tenants.utils import schema_context
from assistants.models import Assistant
from chat.models import ChatSession, Message
from users.models import User
with schema_context("uxacme"):
    admin = User.objects.get(email="admin@uxacme.example")
    session = ChatSession.objects.create(
        assistant=Assistant.objects.get(name="Help Center"), created_by=admin,
        title="Long conversation", channel="web", message_count=140,
    )
    start = timezone.now() - timedelta(hours=2)
    for i in range(1, 71):
        question = Message.objects.create(session=session, role="user", content=f"Question {i}")
        answer = Message.objects.create(
            session=session, role="assistant", content=f"Answer {i}", reply_to=question,
            status="complete",
        )
        Message.objects.filter(pk=question.pk).update(created_at=start + timedelta(seconds=2 * i))
        Message.objects.filter(pk=answer.pk).update(created_at=start + timedelta(seconds=2 * i + 1))
    print(session.pk)
"""
    ).split()[-1]
    login(page, acme)
    page.goto(f"{acme.url}/chat/{session_id}")
    questions = page.get_by_test_id("chat-question")
    # The newest 100 messages (questions 21 to 70), the latest answer at the bottom.
    expect(questions.last).to_contain_text("Question 70")
    expect(page.get_by_test_id("chat-answer").last).to_contain_text("Answer 70")
    expect(questions).to_have_count(50)
    expect(questions.first).to_contain_text("Question 21")
    page.get_by_test_id("load-older").click()
    expect(questions).to_have_count(70)
    expect(questions.first).to_contain_text("Question 1")
    expect(page.get_by_test_id("load-older")).to_have_count(0)
    expect(questions.last).to_contain_text("Question 70")


def test_the_audit_log_shows_changes_as_before_and_after_and_exports_csv(page, acme):
    login(page, acme)
    # A change with a before and an after: rename an assistant.
    page.get_by_role("link", name="Assistants").first.click()
    page.get_by_role("link", name="Markdown bot").first.click()
    page.get_by_label("Name", exact=True).fill("Markdown helper")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("heading", name="Markdown helper")).to_be_visible()

    page.get_by_role("link", name="Audit log").click()
    row = page.get_by_test_id("audit-row").filter(has_text="Assistant changed").first
    changes = row.get_by_test_id("audit-changes")
    name = changes.locator("tr", has_text="name")
    expect(name.locator("td.before")).to_have_text("Markdown bot")
    expect(name.locator("td.after")).to_have_text("Markdown helper")
    snap(page, "ux-audit-log")

    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text.startswith("time,actor,api_key,ip_address,action,target_type,target,field")
    assert "assistant.updated" in text and ",name,Markdown bot,Markdown helper" in text

    # Sign-ins are in the log too, filtered by their readable name.
    page.get_by_label("Action").select_option(label="Signed in")
    page.get_by_role("button", name="Filter").click()
    rows = page.get_by_test_id("audit-row")
    expect(rows.first).to_contain_text("Signed in")
    expect(rows.filter(has_text="Assistant changed")).to_have_count(0)


def test_relevance_reads_as_rank_and_match_and_documents_are_cards_on_a_phone(new_page, acme):
    page = new_page()
    login(page, acme)
    page.goto(f"{acme.url}/search")
    page.get_by_label("Query").fill("How long does a refund take?")
    page.get_by_role("button", name="Search").click()
    hits = page.get_by_test_id("search-results-hybrid").get_by_test_id("search-score")
    expect(hits.first).to_contain_text("#1")
    expect(hits.first).to_contain_text("strong match")  # the best result is 100% of itself
    expect(hits.first.locator(".meter")).to_have_attribute("aria-label", "100% of the best match")
    assert "Score " in hits.first.get_attribute("title")  # the raw score kept as a tooltip
    expect(hits.nth(1)).to_contain_text("#2")
    snap(page, "ux-search-relevance")

    # The documents table: one card per document on a phone, its buttons in reach.
    page.goto(f"{acme.url}/knowledge")
    page.get_by_role("link", name="Acme handbook").first.click()
    table = page.get_by_test_id("documents-table")
    expect(table).to_be_visible()
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_function("window.innerWidth === 390")
    row = table.get_by_test_id("document-row").first
    delete = row.get_by_role("button", name=re.compile("^Delete"))
    box = delete.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 390, box
    assert table.locator("thead").bounding_box()["height"] <= 1  # headers for readers only
    snap(page, "ux-documents-phone")


def test_a_conversation_is_shared_read_only_then_deleted_by_its_owner(new_page, acme, platform):
    owner = new_page()
    login(owner, acme, "member")
    owner.goto(f"{acme.url}/chat")
    ask_and_wait(owner, "Which days is the office closed?")
    conversation = owner.url
    item = owner.get_by_test_id("chat-session").filter(has_text="Which days is the office closed?")
    item.hover()
    item.get_by_role("button", name=re.compile("^Share with the organization")).click()
    expect(item.get_by_test_id("session-shared")).to_be_visible()

    # a colleague (a member of their own, without two-factor) finds it among the shared
    # ones, read-only
    platform.shell(
        f"""
from users import services
from users.models import Membership, Organization, User
if not User.objects.filter(email="colleague@uxacme.example").exists():
    user = services.user_create(
        email="colleague@uxacme.example", password={PASSWORD!r}, name="Colleague", verified=True
    )
    Membership.objects.create(
        user=user, organization=Organization.objects.get(schema_name="uxacme"), role="member"
    )
"""
    )
    colleague = new_page()
    colleague.goto(f"{acme.url}/login")
    colleague.get_by_label("E-mail").fill("colleague@uxacme.example")
    colleague.get_by_label("Password").fill(PASSWORD)
    colleague.get_by_role("button", name="Log in").click()
    expect(colleague.get_by_test_id("user-email")).to_have_text("colleague@uxacme.example")
    colleague.goto(f"{acme.url}/chat")
    colleague.get_by_label("Whose conversations").select_option(label="Mine and shared with me")
    shared = colleague.get_by_test_id("chat-session").filter(
        has_text="Which days is the office closed?"
    )
    expect(shared).to_contain_text("Member · read-only")
    shared.get_by_role("link").click()
    expect(colleague.get_by_test_id("chat-input")).to_be_disabled()
    snap(owner, "ux-chat-shared")

    # the owner deletes it: gone for both, the owner back on a new chat
    owner.once("dialog", lambda dialog: dialog.accept())
    item.hover()
    item.get_by_role("button", name=re.compile("^Delete")).click()
    expect(item).to_have_count(0)
    expect(owner).not_to_have_url(conversation)
    colleague.watch.expect_refusal(404)  # the conversation is gone: the API says so
    colleague.goto(conversation)
    expect(colleague.get_by_text(re.compile("not found|no longer", re.I)).first).to_be_visible()


def test_switching_assistant_inside_a_conversation_answers_with_the_new_model(
    new_page, acme, provider
):
    """Asked "Help Center" (offline) first, the member picks "Markdown bot" (an OpenAI
    model) in the same conversation: the next answer comes from it, with the
    conversation so far as its history, and the thread marks where the switch happened,
    also after a reload."""
    page = new_page()
    login(page, acme, "member")
    open_assistant(page, "Help Center")
    ask_and_wait(page, "Which days is the office closed?")
    conversation = page.url
    first_answer = page.get_by_test_id("chat-answer").last.inner_text()

    # the module's audit test renames "Markdown bot" to "Markdown helper": either name
    picker = page.get_by_label("Assistant", exact=True)
    option = picker.locator("option", has_text="Markdown").first
    bot = option.inner_text().strip()
    picker.select_option(option.get_attribute("value"))
    expect(page.get_by_test_id("switch-hint")).to_contain_text(bot)
    provider.enqueue(Reply(text="From the **Markdown bot**: closed on public holidays [1]."))
    ask_and_wait(page, "Explain the expense approval process for travel costs")

    expect(page).to_have_url(conversation)  # the same conversation, not a new one
    switch = page.get_by_test_id("assistant-switch")
    expect(switch).to_have_count(1)
    expect(switch).to_contain_text(bot)
    expect(switch).to_contain_text("gpt-4o-mini")
    expect(page.get_by_test_id("chat-answer").last.locator("strong")).to_have_text("Markdown bot")
    expect(page.get_by_test_id("switch-hint")).to_have_count(0)
    history = provider.last.body["messages"]
    assert [m["role"] for m in history][1:] == ["user", "assistant", "user"]
    assert history[1]["content"] == "Which days is the office closed?"
    assert history[2]["content"].split()[:3] == first_answer.split()[:3]
    snap(page, "ux-chat-assistant-switch")

    page.reload()
    expect(page.get_by_test_id("assistant-switch")).to_contain_text(bot)
    # the conversation now belongs to the new assistant: the picker says so
    expect(page.get_by_label("Assistant", exact=True).locator("option:checked")).to_have_text(bot)
    expect(page.locator(".msg-meta", has_text=f"{bot} ·")).to_have_count(1)

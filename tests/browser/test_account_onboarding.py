"""Issue 22, items 5, 7, 9 and part of 10, in Chromium: two-factor set-up with a QR code
and a login typed by hand, the organization's "require two-factor" setting, the
getting-started checklist of a new organization, the admins' feedback review, toasts
and keyboard shortcuts. Screenshots of each new screen at desktop and phone width."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, Account, Organization, login, snap

SLUG = "freshco"


def totp_now(secret: str, time_left: float = 8.0) -> str:
    """The code an authenticator app shows now (RFC 6238), computed here from the secret
    the page displayed (allauth's own helpers, as the server checks it). A code with less
    than `time_left` seconds of its 30-second step left is waited out, as a person would:
    on a busy machine the typing and the request could carry it into the next step, where
    the server (no tolerance, see allauth's MFA_TOTP_TOLERANCE) refuses it."""
    import time

    from allauth.mfa.totp.internal.auth import (
        format_hotp_value,
        hotp_value,
        yield_hotp_counters_from_time,
    )

    while 30 - time.time() % 30 < time_left:
        time.sleep(0.25)
    return format_hotp_value(hotp_value(secret, next(iter(yield_hotp_counters_from_time()))))


@pytest.fixture(scope="module")
def freshco(platform) -> Organization:
    """A new organization as sign-up leaves it: its admin and the starter assistants (the
    signal sign-up sends), plus an empty collection; no document, question, teammate or
    provider key. The accounts of ``team`` join later."""
    platform.shell(
        f"""
from django_tenants.utils import schema_context
from assistants.receivers import starter_assistants_for_new_organization
from knowledge_base import services as knowledge
from users import services
from users.models import Membership
organization = services.organization_create(name="FreshCo", slug={SLUG!r})
admin = services.user_create(
    email="admin@{SLUG}.example", password={PASSWORD!r}, name="Admin", verified=True
)
Membership.objects.create(user=admin, organization=organization, role="admin")
starter_assistants_for_new_organization(None, organization=organization, owner=admin)
from tests.factories import local_embedding_model
with schema_context({SLUG!r}):
    knowledge.collection_create(name="Handbook", embedding_model=local_embedding_model())
"""
    )
    accounts = {
        role: Account(f"{role}@{SLUG}.example", PASSWORD, role)
        for role in ("admin", "member", "viewer")
    }
    return Organization(SLUG, platform.org_url(SLUG), accounts)


@pytest.fixture(scope="module")
def team(platform, freshco) -> Organization:
    """freshco once a member and a viewer joined."""
    platform.shell(
        f"""
from users import services
from users.models import Membership, Organization
organization = Organization.objects.get(schema_name={SLUG!r})
for role in ("member", "viewer"):
    user = services.user_create(
        email=f"{{role}}@{SLUG}.example", password={PASSWORD!r}, name=role.title(), verified=True
    )
    Membership.objects.create(user=user, organization=organization, role=role)
"""
    )
    return freshco


def test_a_new_organization_sees_its_checklist_tick_off_and_a_toast_when_a_document_is_ready(
    new_page, freshco
):
    page = new_page()
    login(page, freshco)
    checklist = page.get_by_test_id("getting-started")
    expect(page.get_by_test_id("getting-started-progress")).to_have_text("0 of 4 done")
    expect(checklist.locator("[data-done=true]")).to_have_count(0)
    # No chart of zeros: an empty state that says what fills it.
    expect(page.get_by_test_id("usage-chart")).to_contain_text("No usage in this period")
    expect(page.get_by_test_id("usage-chart").locator("svg")).to_have_count(0)
    snap(page, "onboarding-home-new")

    checklist.get_by_role("link", name="Upload a document").click()
    page.get_by_test_id("collection-row").first.get_by_role("link").first.click()
    page.get_by_test_id("upload-input").set_input_files(
        {
            "name": "refunds.md",
            "mimeType": "text/markdown",
            "buffer": b"# Refunds\n\nRefunds take 14 days.",
        }
    )
    toasts = page.get_by_test_id("toast")
    expect(toasts.filter(has_text="uploaded: reading it now")).to_have_count(1)
    # The toast for the work that finished out of sight (ingestion by the worker).
    expect(toasts.filter(has_text="is ready")).to_have_count(1, timeout=60_000)

    page.get_by_role("link", name="Home").click()
    expect(page.get_by_test_id("getting-started-progress")).to_have_text("1 of 4 done")
    done = checklist.locator("[data-done=true]")
    expect(done).to_have_count(1)
    expect(done).to_contain_text("Upload a document")
    snap(page, "onboarding-home-one-done")


def _set_up_two_factor(page) -> str:
    """Through the Security page as a person does it; returns the secret it showed."""
    page.get_by_role("button", name="Set up two-factor authentication").click()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm").click()
    qr = page.get_by_test_id("totp-qr")
    expect(qr).to_be_visible()
    # A real image, decoded by the browser (not a broken <img>).
    assert page.evaluate("(img) => img.naturalWidth > 0 && img.complete", qr.element_handle())
    assert qr.get_attribute("src").startswith("data:image/svg+xml")
    secret = page.get_by_test_id("totp-secret").inner_text().strip()
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret), secret
    return secret


def test_two_factor_set_up_shows_a_qr_code_then_recovery_codes_and_a_code_typed_by_hand_logs_in(
    new_page, team
):
    page = new_page()
    page.watch.expect_refusal(404)  # allauth's "no TOTP yet" carries the new secret
    page.watch.expect_refusal(401)  # allauth asks for the password first
    login(page, team, "viewer")
    page.goto(f"{team.url}/security")
    secret = _set_up_two_factor(page)
    snap(page, "account-2fa-setup-qr")

    # A wrong code: said under the field, with what to check.
    code = page.get_by_label("Authentication code")
    expect(code).to_have_attribute("inputmode", "numeric")
    expect(code).to_have_attribute("autocomplete", "one-time-code")
    page.watch.expect_refusal(400)
    code.press_sequentially("000000" if totp_now(secret) != "000000" else "111111")
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_test_id("field-error-code")).to_contain_text("Incorrect code")

    code.fill("")
    code.press_sequentially(totp_now(secret))
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_test_id("totp-status")).to_have_text("on")
    expect(page.get_by_test_id("recovery-codes")).to_be_visible()
    expect(page.get_by_test_id("recovery-codes").locator("span")).not_to_have_count(0)

    # Log out, log in again: the second step's code is typed by hand.
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{team.url}/login")
    page.get_by_label("E-mail").fill(team["viewer"].email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    field = page.get_by_label("Authentication code")
    expect(field).to_have_value("")
    # A code is used once: wait for the next one if set-up just used this one.
    page.wait_for_timeout(100)
    field.press_sequentially(_fresh_code(secret))
    snap(page, "account-2fa-login")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_test_id("user-email")).to_have_text(team["viewer"].email)


def _fresh_code(secret: str) -> str:
    """allauth refuses a code used once already: wait for the next 30-second step."""
    import time

    first = totp_now(secret)
    deadline = time.monotonic() + 31
    while totp_now(secret) == first and time.monotonic() < deadline:
        time.sleep(0.5)
    return totp_now(secret)


def test_starter_assistant_offers_suggested_questions_and_keyboard_shortcuts_work(new_page, team):
    page = new_page()
    login(page, team, "member")
    page.goto(f"{team.url}/assistants")
    expect(page.get_by_role("heading", name="Assistants", exact=True)).to_be_visible()

    # "?" lists the shortcuts.
    page.keyboard.press("?")
    dialog = page.get_by_test_id("shortcuts-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("New chat")
    expect(dialog).to_contain_text("Stop the answer")
    snap(page, "shortcuts-dialog")
    page.keyboard.press("Escape")
    expect(dialog).not_to_be_visible()

    # Ctrl+Shift+O: a new chat, the composer focused.
    page.keyboard.press("Control+Shift+O")
    expect(page).to_have_url(f"{team.url}/chat")
    composer = page.get_by_test_id("chat-input")
    expect(composer).to_be_focused()

    # The starter assistant's suggested questions fill the composer.
    suggestions = page.get_by_test_id("suggested-questions")
    expect(suggestions.get_by_role("button")).not_to_have_count(0)
    first = suggestions.get_by_role("button").first
    question = first.inner_text()
    snap(page, "onboarding-chat-suggestions")
    first.click()
    expect(composer).to_have_value(question)

    # "/" from elsewhere on the page focuses the composer, and types nothing.
    page.get_by_role("heading", name=re.compile("^Ask ")).click()
    expect(composer).not_to_be_focused()
    page.keyboard.press("/")
    expect(composer).to_be_focused()
    expect(composer).to_have_value(question)


def test_admins_review_thumbs_down_answers_filtered_and_members_are_refused(
    platform, new_page, team
):
    platform.shell(
        f"""
from django_tenants.utils import schema_context
from assistants.models import Assistant
from chat import services
from core.api.authorization import caller_resolve
from users.models import Organization, User
organization = Organization.objects.get(schema_name={SLUG!r})
user = User.objects.get(email="member@{SLUG}.example")
with schema_context({SLUG!r}):
    helpdesk = Assistant.objects.get(name="Help Center")
    turn = services.chat_prepare(
        organization=organization, assistant_id=helpdesk.id, user=user,
        message="Can I return a gift card?",
        caller=caller_resolve(organization=organization, user=user, api_key=None),
    )
    answer = services.chat_finish(turn=turn, text="Refunds take **14 days**.", status="complete")
    from chat.models import Message
    answer = Message.objects.filter(session=turn.session, role="assistant").get()
    services.message_feedback(message=answer, rating=-1, comment="It did not answer about gift cards.")
"""
    )
    admin = new_page()
    login(admin, team)
    admin.get_by_role("link", name="Answer feedback").click()
    expect(admin).to_have_url(f"{team.url}/feedback")
    row = admin.get_by_test_id("feedback-row")
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("feedback-question")).to_have_text("Can I return a gift card?")
    expect(row.get_by_test_id("feedback-answer").locator("strong")).to_have_text("14 days")
    expect(row.get_by_test_id("feedback-comment")).to_have_text(
        "It did not answer about gift cards."
    )
    expect(row.get_by_test_id("feedback-sources")).to_be_visible()
    expect(row).to_contain_text("member@freshco.example")
    snap(admin, "feedback-review")

    admin.get_by_label("Assistant").select_option(label="Help Center")
    admin.get_by_role("button", name="Filter").click()
    expect(row).to_have_count(1)
    admin.get_by_label("From").fill("2099-01-01")
    admin.get_by_role("button", name="Filter").click()
    expect(row).to_have_count(0)
    expect(admin.get_by_text("No unhelpful answer matches")).to_be_visible()

    member = new_page()
    login(member, team, "member")
    expect(member.get_by_role("link", name="Answer feedback")).to_have_count(0)
    member.watch.expect_refusal(403)
    member.goto(f"{team.url}/feedback")
    expect(member.get_by_test_id("error-message")).to_contain_text("does not allow")


@pytest.fixture(scope="module")
def slow_bot(platform, team):
    """An OpenAI assistant of freshco on the local server speaking OpenAI's wire protocol
    (the one allowed stand-in), for answers slow enough to stop."""
    from assistants.tests.providers.fake_server import FakeProviderServer

    server = FakeProviderServer(api_key=None).start()
    platform.shell(
        f"""
from django_tenants.utils import schema_context
from assistants import services
from tests.factories import catalog_model
with schema_context({SLUG!r}):
    services.credential_create(provider="openai", api_key="sk-fresh", base_url="{server.url}/v1")
    services.assistant_create(name="Slow bot", model=catalog_model("openai/gpt-4o-mini"), user=None)
"""
    )
    yield server
    server.stop()


def test_escape_stops_the_answer_being_written(new_page, team, slow_bot):
    from assistants.tests.providers.fake_server import Reply

    slow_bot.enqueue(Reply(text="word " * 400, chunk_delay=0.05))
    page = new_page()
    login(page, team, "member")
    page.goto(f"{team.url}/chat")
    page.get_by_label("Assistant", exact=True).select_option(label="Slow bot")
    page.get_by_test_id("chat-input").fill("Tell me a long story")
    page.get_by_role("button", name="Send").click()
    answer = page.get_by_test_id("chat-answer").last
    expect(answer).to_contain_text("word", timeout=60_000)
    expect(page.get_by_test_id("chat-stop")).to_be_visible()
    page.keyboard.press("Escape")
    # The whole answer takes 20 s; the stop is at once, and the server stores it as
    # cancelled (what the Stop button does).
    expect(page.get_by_test_id("chat-stop")).to_have_count(0, timeout=3_000)
    expect(page).to_have_url(re.compile(r"/chat/[0-9a-f-]{36}$"))
    session_id = page.url.rsplit("/", 1)[1]
    status = None
    for _ in range(20):
        messages = page.evaluate(
            "(id) => fetch(`/api/v1/chat/sessions/${id}/messages`).then((r) => r.json())",
            session_id,
        )
        status = [m["status"] for m in messages["results"] if m["role"] == "assistant"][-1]
        if status != "streaming":
            break
        page.wait_for_timeout(500)
    assert status == "cancelled", status


def test_requiring_two_factor_warns_the_admin_then_sends_a_member_to_set_it_up(
    platform, new_page, team
):
    from allauth.mfa.totp.internal.auth import generate_totp_secret

    # A second admin with an authenticator app (the first stays without, for the tests
    # that log in with the plain helper).
    secret = generate_totp_secret()
    email = f"guard@{SLUG}.example"
    platform.shell(
        f"""
from allauth.mfa.totp.internal.auth import TOTP
from users import services
from users.models import Membership, Organization
user = services.user_create(email={email!r}, password={PASSWORD!r}, name="Guard", verified=True)
Membership.objects.create(user=user, organization=Organization.objects.get(schema_name={SLUG!r}), role="admin")
TOTP.activate(user, {secret!r})
"""
    )
    admin = new_page()
    admin.watch.expect_refusal(401)
    admin.goto(f"{team.url}/login")
    admin.get_by_label("E-mail").fill(email)
    admin.get_by_label("Password").fill(PASSWORD)
    admin.get_by_role("button", name="Log in").click()
    admin.get_by_label("Authentication code").press_sequentially(totp_now(secret))
    admin.get_by_role("button", name="Verify").click()
    expect(admin.get_by_test_id("user-email")).to_have_text(email)

    admin.goto(f"{team.url}/security")
    expect(admin.get_by_test_id("require-2fa-status")).to_have_text("optional")
    admin.get_by_role("button", name="Require two-factor authentication…").click()
    warning = admin.get_by_test_id("require-2fa-warning")
    # The member has none (the viewer may have set one up in the test above).
    expect(warning).to_contain_text(re.compile(r"\d+ members? (has|have) no two-factor"))
    snap(admin, "account-require-2fa-warning")
    admin.get_by_role("button", name="Require it").click()
    expect(admin.get_by_test_id("require-2fa-status")).to_have_text("required")
    expect(admin.get_by_test_id("toast")).to_contain_text("now required")

    member = new_page()
    member.watch.expect_refusal(404)
    member.watch.expect_refusal(401)
    member.watch.expect_refusal(403)  # two_factor_required, asked below
    member.goto(f"{team.url}/login")
    member.get_by_label("E-mail").fill(team["member"].email)
    member.get_by_label("Password").fill(PASSWORD)
    member.get_by_role("button", name="Log in").click()
    expect(member).to_have_url(f"{team.url}/security")
    expect(member.get_by_test_id("two-factor-required")).to_contain_text("requires two-factor")
    snap(member, "account-2fa-required")
    # Any other page sends back here; the API itself refuses the session.
    member.goto(f"{team.url}/chat")
    expect(member).to_have_url(f"{team.url}/security")
    status = member.evaluate("() => fetch('/api/v1/assistants').then((r) => r.json())")
    assert status["error"]["code"] == "two_factor_required"

    # Set up, and the dashboard opens.
    member_secret = _set_up_two_factor(member)
    member.get_by_label("Authentication code").press_sequentially(totp_now(member_secret))
    member.get_by_role("button", name="Turn on").click()
    expect(member.get_by_test_id("recovery-codes")).to_be_visible()
    expect(member.get_by_test_id("two-factor-required")).to_have_count(0)
    member.get_by_role("link", name="Chat").click()
    expect(member).to_have_url(f"{team.url}/chat")

    # Back to optional, for the tests after this one.
    admin.get_by_role("button", name="Stop requiring it").click()
    expect(admin.get_by_test_id("require-2fa-status")).to_have_text("optional")

"""Roles shape the UI, and every action the server refuses shows its message next to the
control that asked."""

import re

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, login, snap

ADMIN_ONLY_PAGES = ["API keys", "Provider credentials", "Audit log", "Answer feedback"]


def test_viewer_sees_no_edit_controls(page, globex):
    login(page, globex, "viewer")
    expect(page.get_by_test_id("user-role")).to_have_text("viewer")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Knowledge")).to_be_visible()
    for name in ADMIN_ONLY_PAGES:
        expect(nav.get_by_role("link", name=name)).to_have_count(0)

    # assistants: readable, not editable
    nav.get_by_role("link", name="Assistants").click()
    expect(page.get_by_test_id("assistant-card").first).to_be_visible()
    expect(page.get_by_role("link", name="New assistant")).to_have_count(0)
    page.get_by_test_id("assistant-card").filter(has_text="Help Center").click()
    expect(page.get_by_role("heading", name="Help Center", level=1)).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="You are a viewer")).to_be_visible()
    expect(page.get_by_label("Name", exact=True)).to_be_disabled()
    expect(page.get_by_label("Model", exact=True)).to_be_disabled()
    for name in ("Save changes", "Delete assistant", "Send test message"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)

    # knowledge: documents listed, no upload, reprocess, delete or edit
    nav.get_by_role("link", name="Knowledge").click()
    expect(page.get_by_test_id("collection-row").first).to_be_visible()
    expect(page.get_by_role("button", name="New collection")).to_have_count(0)
    page.get_by_test_id("collection-row").first.get_by_role("link").click()
    expect(page.get_by_test_id("document-row").first).to_be_visible()
    expect(page.get_by_test_id("document-status").first).to_have_text("completed")
    expect(page.get_by_test_id("dropzone")).to_have_count(0)
    for name in (
        "Add from URL",
        "Edit collection",
        "Delete collection",
        re.compile("^(Reprocess|Delete) "),
    ):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    snap(page, "collection-viewer")

    # members: listed, no role changes, removals or invitations
    nav.get_by_role("link", name="Members").click()
    expect(page.get_by_test_id("member-row")).to_have_count(3)
    expect(page.get_by_role("combobox")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("^Remove "))).to_have_count(0)
    expect(page.get_by_role("button", name="Send invitation")).to_have_count(0)
    snap(page, "members-viewer")


def test_viewer_opening_an_admin_page_is_told_why(page, globex):
    login(page, globex, "viewer")
    page.watch.expect_refusal(403)
    page.goto(f"{globex.url}/api-keys")
    expect(page.get_by_role("heading", name="API keys", level=1)).to_be_visible()
    expect(page.get_by_role("region", name="API keys").get_by_role("alert")).to_contain_text(
        "does not allow"
    )


def test_refused_actions_show_the_servers_message_next_to_the_control(page, globex):
    login(page, globex, "admin")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Members").click()
    expect(page.get_by_test_id("member-row")).to_have_count(3)
    snap(page, "members")

    # inviting someone who is a member already: 409, shown in the invitation form
    page.watch.expect_refusal(409)
    invitations = page.get_by_role("region", name="Invitations")
    invitations.get_by_label("E-mail to invite").fill(globex["viewer"].email)
    invitations.get_by_role("button", name="Send invitation").click()
    expect(invitations.get_by_role("alert")).to_have_text("This person is already a member.")

    # the last admin demoting themselves: 409, shown in their own row
    own = page.get_by_test_id("member-row").filter(has_text=globex["admin"].email)
    own.get_by_label(f"Role of {globex['admin'].email}").select_option("viewer")
    expect(own.get_by_role("alert")).to_contain_text("The last admin cannot be demoted")
    expect(page.get_by_test_id("user-role")).to_have_text("admin")


def test_sign_up_refusal_is_shown_at_the_field(page, platform, globex):
    page.goto(platform.public_url + "/signup")
    page.get_by_label("Your name").fill("Someone Else")
    page.get_by_label("Work e-mail").fill("someone@else.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Organization name").fill("Globex")
    page.watch.expect_refusal(400)
    page.get_by_role("button", name="Create organization").click()
    expect(page.get_by_test_id("field-error-slug")).to_contain_text("taken")
    address = page.get_by_label("Address")
    expect(address).to_have_attribute("aria-invalid", "true")
    # the message is tied to the field for screen readers
    described = address.get_attribute("aria-describedby") or ""
    assert page.get_by_test_id("field-error-slug").get_attribute("id") in described.split()

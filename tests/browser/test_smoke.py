"""The app shell on an organization's host: an anonymous visit goes to the login page and,
once logged in, back where it was going."""

import re

from playwright.sync_api import expect

from tests.browser.conftest import snap


def test_anonymous_visit_logs_in_and_returns(page, globex):
    page.goto(f"{globex.url}/knowledge")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fknowledge$"))
    expect(page.get_by_role("heading", name="Log in to Globex Corporation")).to_be_visible()
    snap(page, "login-organization")
    account = globex["member"]
    page.get_by_label("E-mail").fill(account.email)
    page.get_by_label("Password").fill(account.password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Knowledge", level=1)).to_be_visible()
    expect(page).to_have_url(f"{globex.url}/knowledge")

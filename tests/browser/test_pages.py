"""Every page of the navigation, for each role: it renders, with nothing in the browser
console (the page fixture fails the test otherwise); admins' pages are screenshotted."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import login, snap

# Navigation link -> the page's heading (None: the home page greets the user by name).
PAGES = {
    "Home": None,
    "Chat": "New conversation",
    "Assistants": "Assistants",
    "Knowledge": "Knowledge",
    "Search playground": "Search playground",
    "History": "History",
    "Import": "Import conversations",
    "Prompt templates": "Prompt templates",
    "Workflows": "Workflows",
    "Members": "Members",
    "Billing": "Billing",
    "API keys": "API keys",
    "Provider credentials": "Provider credentials",
    "Audit log": "Audit log",
    "Answer feedback": "Answer feedback",
    "Security": "Security",
    "Integrations": "Integrations",
    "Website widget": "Website widget",
    "Webhooks": "Webhooks",
}
ADMIN_ONLY = {
    "API keys",
    "Provider credentials",
    "Audit log",
    "Answer feedback",
    "Website widget",
    "Webhooks",
}


@pytest.mark.parametrize("role", ["admin", "member", "viewer"])
def test_every_page_renders_cleanly(page, globex, role):
    login(page, globex, role)
    nav = page.get_by_role("navigation", name="Main")
    visible = [name for name in PAGES if role == "admin" or name not in ADMIN_ONLY]
    expect(nav.get_by_role("link")).to_have_count(len(visible))
    for name in visible:
        nav.get_by_role("link", name=name, exact=True).click()
        heading = PAGES[name]
        if heading is None:
            expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")
        else:
            expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
        page.wait_for_load_state("networkidle")
        expect(page.get_by_role("alert"), f"{role} on {name}: an error is shown").to_have_count(0)
        if role == "admin":
            snap(page, "page-" + name.lower().replace(" ", "-"))

"""Keyboard only, and at a phone's width."""

import re

from playwright.sync_api import expect

from tests.browser.conftest import PHONE, login, snap

FOCUSED = """() => {
  const element = document.activeElement;
  const style = getComputedStyle(element);
  return {
    id: element.id, testid: element.dataset.testid || "", text: element.textContent.trim().slice(0, 40),
    tag: element.tagName.toLowerCase(),
    ring: style.outlineStyle !== "none" || style.boxShadow !== "none",
  };
}"""


def tab_to(page, matches, limit: int = 40, key: str = "Tab") -> dict:
    """Press Tab (or ``key``) until the focused element satisfies ``matches``; every stop
    on the way must show where the focus is (past the last element the focus leaves the
    page for the browser's own controls: the body, skipped)."""
    for _ in range(limit):
        page.keyboard.press(key)
        focused = page.evaluate(FOCUSED)
        if focused["tag"] == "body":
            continue
        assert focused["ring"], f"no visible focus on {focused}"
        if matches(focused):
            return focused
    raise AssertionError(f"not reached with {limit} presses of {key}")


def test_keyboard_alone_logs_in_and_asks_in_chat(page, globex):
    account = globex["member"]
    page.goto(f"{globex.url}/login")
    # the e-mail field has the focus; Tab to the password, Enter submits
    expect(page.get_by_label("E-mail")).to_be_focused()
    page.keyboard.type(account.email)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(account.password)
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("user-email")).to_have_text(account.email)

    # the skip link comes first and moves past the navigation
    page.goto(f"{globex.url}/chat")
    expect(page.get_by_role("heading", name="Ask Help Center")).to_be_visible()
    first = tab_to(page, lambda focused: True, limit=1)
    assert first["text"] == "Skip to content", first
    page.keyboard.press("Enter")
    tab_to(page, lambda focused: focused["testid"] == "chat-input")
    page.keyboard.type("How do I install the desktop app?")
    page.keyboard.press("Enter")
    answer = page.get_by_test_id("chat-answer")
    expect(answer).not_to_have_attribute("aria-busy", "true", timeout=30_000)
    expect(answer).to_contain_text("Windows 11")
    # the citation (above the message box) is reachable and opens its source by keyboard
    tab_to(
        page,
        lambda focused: focused["tag"] == "button" and focused["text"].isdigit(),
        key="Shift+Tab",
    )
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("source-document")).to_contain_text("getting-started")
    expect(page.get_by_role("button", name="Close")).to_be_focused()


def test_phone_layout_navigates_through_the_menu(new_page, globex):
    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    login(page, globex, "member")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Knowledge")).not_to_be_in_viewport()
    menu = page.get_by_role("button", name="Open navigation")
    expect(menu).to_have_attribute("aria-expanded", "false")
    menu.tap()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(nav.get_by_role("link", name="Knowledge")).to_be_in_viewport()
    nav.get_by_role("link", name="Knowledge").tap()
    expect(page.get_by_role("heading", name="Knowledge", level=1)).to_be_visible()
    expect(nav.get_by_role("link", name="Knowledge")).not_to_be_in_viewport()
    snap(page, "knowledge")

    # the chat's conversation list is behind its own button on a phone
    menu.tap()
    nav.get_by_role("link", name="Chat").tap()
    expect(page.get_by_test_id("chat-input")).to_be_in_viewport()
    expect(page.get_by_role("button", name="Conversations")).to_be_visible()
    assert page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )
    snap(page, "chat-empty")
    expect(page).to_have_url(re.compile(r"/chat$"))

"""An admin creates an API key (its secret shown once, with a copy button), a program uses
it, the admin revokes it and the program is refused."""

from playwright.sync_api import expect

from tests.browser.conftest import login, snap


def test_api_key_created_copied_used_and_revoked(new_page, platform, globex):
    page = new_page(permissions=["clipboard-read", "clipboard-write"])
    login(page, globex, "admin")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="API keys").click()
    expect(page.get_by_role("heading", name="API keys", level=1)).to_be_visible()

    # create: name and scopes
    page.get_by_role("button", name="New API key").click()
    dialog = page.get_by_role("dialog", name="New API key")
    dialog.get_by_label("Name").fill("Support website")
    dialog.get_by_role("checkbox", name="assistants:read").check()
    expect(dialog.get_by_role("checkbox", name="chat:write")).to_be_checked()
    dialog.get_by_role("button", name="Create key").click()

    # the secret, once, with a copy button that copies it
    shown = page.get_by_role("dialog", name="Your new API key")
    expect(shown.get_by_text("shown only once")).to_be_visible()
    secret = shown.get_by_test_id("api-key-secret").inner_text().strip()
    assert secret.startswith("apk_"), secret
    shown.get_by_role("button", name="Copy").click()
    expect(shown.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    snap(page, "api-key-created")
    shown.get_by_role("button", name="Done").click()
    expect(shown).to_be_hidden()

    # listed by its prefix, never the secret
    row = page.get_by_test_id("api-key-row").filter(has_text="Support website")
    expect(row).to_contain_text("active")
    expect(row).to_contain_text("chat:write")
    expect(page.get_by_text(secret)).to_have_count(0)
    snap(page, "api-keys")

    # a program can use it
    auth = {"Authorization": f"Bearer {secret}"}
    status, body = platform.request("GET", f"{globex.url}/api/v1/assistants", headers=auth)
    assert status == 200, body

    # revoked (after confirming), it is refused
    page.once("dialog", lambda confirm: confirm.accept())
    row.get_by_role("button", name="Revoke Support website").click()
    expect(row).to_contain_text("revoked")
    expect(row.get_by_role("button", name="Revoke Support website")).to_have_count(0)
    status, body = platform.request("GET", f"{globex.url}/api/v1/assistants", headers=auth)
    assert status == 401, body

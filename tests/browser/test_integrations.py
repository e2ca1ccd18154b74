"""An admin connects a Teams bot, chooses the assistant that answers, downloads the Teams
app package and disconnects it; the Integrations page at desktop and phone width."""

import io
import json
import zipfile
from pathlib import Path

from playwright.sync_api import expect

from tests.browser.conftest import login, snap

APP_ID = "5b1c0000-0000-4000-8000-0000000000b2"
TENANT_ID = "5b1c0000-0000-4000-8000-00000000aaaa"


def test_teams_connected_mapped_packaged_and_disconnected(new_page, globex):
    page = new_page()
    login(page, globex, "admin")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Integrations").click()
    expect(page.get_by_role("heading", name="Integrations", level=1)).to_be_visible()
    expect(page.get_by_text("No Slack or Teams yet")).to_be_visible()
    expect(page.get_by_role("button", name="Add to Slack")).to_be_visible()
    snap(page, "integrations-empty")

    page.get_by_role("button", name="Connect Teams").click()
    dialog = page.get_by_role("dialog", name="Connect a Teams bot")
    dialog.get_by_label("Name").fill("Support bot")
    dialog.get_by_label("Microsoft App ID").fill(APP_ID)
    dialog.get_by_label("Client secret").fill("a-client-secret")
    dialog.get_by_label("Directory (tenant) ID").fill(TENANT_ID)
    dialog.get_by_role("button", name="Connect").click()
    expect(dialog).to_be_hidden()

    card = page.get_by_test_id("integration-card")
    expect(card).to_contain_text("Microsoft Teams: Support bot")
    expect(card).to_contain_text("active")
    expect(page.get_by_text("a-client-secret")).to_have_count(0)

    # the default assistant, and one channel mapped to it
    card.get_by_label("Default assistant").select_option(index=1)
    chosen = card.get_by_label("Default assistant").evaluate("s => s.options[s.selectedIndex].text")
    card.get_by_label("Channel or team id (optional)").fill("19:support@thread.tacv2")
    card.get_by_label("Its assistant").select_option(index=1)
    card.get_by_role("button", name="Save").click()
    expect(card).to_contain_text(f"Answers with {chosen}")
    expect(card).to_contain_text("19:support@thread.tacv2")
    card.get_by_role("button", name="Show recent events").click()
    expect(card.get_by_text("Nothing received yet.")).to_be_visible()
    snap(page, "integrations-teams")

    # the Teams app package: manifest with the bot's id, and the two icons
    with page.expect_download() as download:
        card.get_by_role("button", name="Download Teams app").click()
    archive = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes()))
    assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
    assert json.loads(archive.read("manifest.json"))["bots"][0]["botId"] == APP_ID

    page.once("dialog", lambda confirm: confirm.accept())
    card.get_by_role("button", name="Disconnect").click()
    expect(card).to_contain_text("disconnected")
    expect(card.get_by_role("button", name="Disconnect")).to_have_count(0)

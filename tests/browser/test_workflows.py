"""A member writes a prompt template (variables highlighted, live preview), then builds
a scheduled workflow in the builder (validation shown next to the step's field before
publish), runs it by hand, watches its steps progress to the end and sees its cost; the
chat composer's "/" picker inserts the rendered template."""

import re

from playwright.sync_api import expect

from tests.browser.conftest import login, snap


def test_template_then_workflow_built_published_and_run(page, globex):
    login(page, globex, "member")
    nav = page.get_by_role("navigation", name="Main")

    # a template, with its preview (which answers 400, naming the variables, until
    # every required value is filled in)
    page.watch.expect_refusal(400)
    nav.get_by_role("link", name="Prompt templates").click()
    expect(page.get_by_role("heading", name="Prompt templates", level=1)).to_be_visible()
    page.get_by_label("New template").fill("Weekly digest")
    page.get_by_test_id("prompt-create").click()
    expect(page.get_by_role("heading", name="Weekly digest", level=1)).to_be_visible()
    page.get_by_test_id("prompt-body").fill(
        "Summarise what we know about {{ topic }} for {{ team }}."
    )
    expect(page.get_by_test_id("prompt-highlight").locator("mark.badge-danger")).to_have_text(
        "{{ team }}"
    )
    page.get_by_role("button", name="Add variable").click()
    page.get_by_label("Variable name").nth(1).fill("team")
    page.locator("#value-topic").fill("refunds")
    page.locator("#value-team").fill("support")
    expect(page.get_by_test_id("prompt-preview")).to_have_text(
        "Summarise what we know about refunds for support."
    )
    page.get_by_label("Version note").fill("team variable")
    page.get_by_test_id("prompt-publish").click()
    expect(page.get_by_test_id("prompt-version")).to_have_count(2)
    snap(page, "prompt-editor")

    # a workflow: retrieve, summarise with a transform, e-mail it; every Monday
    nav.get_by_role("link", name="Workflows").click()
    page.get_by_label("New workflow").fill("Monday digest")
    page.get_by_test_id("workflow-create").click()
    expect(page.get_by_role("heading", name="Monday digest", level=1)).to_be_visible()
    page.get_by_test_id("step-type").select_option("retrieve")
    page.get_by_test_id("step-add").click()
    page.get_by_label("Query").fill("{{ input.topic }}")
    page.get_by_label("Collections").select_option(index=0)
    page.get_by_test_id("step-type").select_option("transform")
    page.get_by_test_id("step-add").click()
    expect(page.get_by_test_id("step-available-1")).to_contain_text("steps.retrieve_1")
    page.get_by_test_id("step-type").select_option("notify")
    page.get_by_test_id("step-add").click()
    page.get_by_label("To (comma-separated)").fill("team@globex.example")
    page.get_by_label("Subject").fill("Digest: {{ input.topic }}")
    page.get_by_label("Body").fill("{{ steps.transform_2.value }}")
    page.get_by_label("Schedule (cron)").fill("0 9 * * 1")
    page.get_by_label("Time zone").fill("Europe/Paris")
    page.get_by_test_id("workflow-inputs").fill("topic")
    page.get_by_test_id("workflow-inputs").blur()

    # validation before publish: the transform has no template yet
    page.watch.expect_refusal(400)
    page.get_by_test_id("workflow-publish").click()
    expect(page.get_by_test_id("step-error-1-template")).to_contain_text("required")
    page.locator("#step-1-template").fill(
        "{{ steps.retrieve_1.count }} passages about {{ input.topic }}: {{ steps.retrieve_1.text[:200] }}"
    )
    page.get_by_test_id("workflow-publish").click()
    expect(page.get_by_test_id("workflow-published")).to_contain_text("Published version 1")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.get_by_text(re.compile("next run"))).to_be_visible()
    snap(page, "workflow-builder")

    # a run by hand, with live progress to the end
    page.get_by_role("textbox", name="topic", exact=True).fill("refunds")
    page.get_by_test_id("workflow-run").click()
    expect(page.get_by_test_id("run-status")).to_have_text("succeeded", timeout=60_000)
    steps = page.get_by_test_id("run-view").get_by_test_id("run-step")
    expect(steps).to_have_count(3)
    for n in range(3):
        expect(steps.nth(n)).to_contain_text("succeeded")
    expect(page.get_by_test_id("run-cost")).to_be_visible()
    steps.nth(1).locator("summary").click()
    expect(steps.nth(1)).to_contain_text("passages about refunds")
    expect(page.get_by_test_id("run-row")).to_have_count(1)
    snap(page, "workflow-run")

    # the chat composer's "/" picker
    nav.get_by_role("link", name="Chat").click()
    page.get_by_test_id("chat-input").fill("/Weekly")
    page.get_by_test_id("template-choice").filter(has_text="Weekly digest").click()
    page.locator("#tpl-topic").fill("shipping")
    page.locator("#tpl-team").fill("sales")
    page.get_by_test_id("template-insert").click()
    expect(page.get_by_test_id("chat-input")).to_have_value(
        "Summarise what we know about shipping for sales."
    )
    snap(page, "chat-template-picker")

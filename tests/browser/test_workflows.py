"""A member writes a prompt template (variables highlighted, live preview), then builds
a scheduled workflow in the builder (validation shown next to the step's field before
publish), runs it by hand, watches its steps progress to the end and sees its cost; the
chat composer's "/" picker inserts the rendered template."""

import re

import pytest
from playwright.sync_api import expect

from assistants.tests.providers.fake_server import FakeProviderServer, Reply
from tests.browser.conftest import create_organization, login, snap


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

    # the answer to the templated question is a use of the published version
    published_usage = (
        page.get_by_test_id("prompt-version")
        .filter(has_text="published")
        .get_by_test_id("prompt-version-usage")
    )
    page.get_by_role("button", name="Send").click()
    answer = page.get_by_test_id("chat-answer").last
    expect(answer).not_to_have_attribute("aria-busy", "true", timeout=60_000)
    nav.get_by_role("link", name="Prompt templates").click()
    page.get_by_role("link", name="Weekly digest").click()
    # (the workflow above has no prompt step: this is the answer's use, with its tokens)
    expect(published_usage).to_contain_text(re.compile(r"^1 use · [1-9][\d,]* tokens"))


DIGEST = "flowsdigest"  # this test's own organization (the browser tests share a platform)
SUMMARY = "Refunds last week: requests within 30 days are refunded to the original card."


@pytest.fixture
def provider():
    """OpenAI's wire protocol on a local port (the only stand-in: the SDK runs for real)."""
    server = FakeProviderServer(api_key=None).start()
    yield server
    server.stop()


def test_scheduled_monday_digest_built_then_run_by_hand_with_progress_and_cost(
    page, platform, provider
):
    """Issue 14's "done when": every Monday, retrieve last week's documents about X,
    summarise them with a template, save the summary to a collection and e-mail it; built
    in the dashboard by a member, run once by hand with live progress, its cost shown."""
    # given: an organization with its handbook (added today), an OpenAI key pointed at the
    # local server, a "Digests" collection and a summary template
    organization = create_organization(platform, DIGEST, "Flows Digest")
    platform.shell(
        f"""
from django_tenants.utils import schema_context
from assistants import services as assistants
from assistants.catalog.models import AIModel
from knowledge_base import services as knowledge
from prompts import services as prompts
from users.models import User
with schema_context({DIGEST!r}):
    admin = User.objects.get(email="admin@{DIGEST}.example")
    assistants.credential_create(provider="openai", api_key="sk-flows", base_url="{provider.url}/v1")
    knowledge.collection_create(
        name="Digests", embedding_model=AIModel.objects.get(provider="local", model_id="all-minilm-l6-v2")
    )
    prompts.template_create(
        user=admin,
        name="Weekly summary",
        visibility="organization",
        body="Summarise last week's documents about {{{{ topic }}}} in three sentences.\\n\\n{{{{ passages }}}}",
        variables=[
            {{"name": "topic", "type": "short_text", "required": True}},
            {{"name": "passages", "type": "long_text", "required": True}},
        ],
    )
"""
    )
    # the summary takes a few seconds: long enough to watch the run progress
    provider.enqueue(Reply(text=SUMMARY, usage=(1800, 200), delay=4.0))
    login(page, organization, "member")
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Workflows").click()
    page.get_by_label("New workflow").fill("Monday digest")
    page.get_by_test_id("workflow-create").click()
    expect(page.get_by_role("heading", name="Monday digest", level=1)).to_be_visible()

    # when: the member builds it, step by step
    page.get_by_test_id("step-type").select_option("retrieve")
    page.get_by_test_id("step-add").click()
    page.locator("#step-0-query").fill("{{ input.topic }}")
    page.locator("#step-0-collection_ids").select_option(label="Acme handbook")
    page.locator("#step-0-since_days").fill("7")
    page.get_by_test_id("step-type").select_option("prompt")
    page.get_by_test_id("step-add").click()
    page.locator("#step-1-template_id select").select_option(label="Weekly summary")
    page.locator("#step-1-model").fill("openai/gpt-4o-mini")
    page.locator("#step-1-values").fill(
        "topic={{ input.topic }}\npassages={{ steps.retrieve_1.text }}"
    )
    page.locator("#step-1-values").blur()
    page.get_by_test_id("step-type").select_option("save_document")
    page.get_by_test_id("step-add").click()
    expect(page.get_by_test_id("step-available-2")).to_contain_text("steps.prompt_2")
    page.locator("#step-2-collection_id select").select_option(label="Digests")
    page.locator("#step-2-title").fill("Digest: {{ input.topic }}, {{ run.started_at[:10] }}")
    page.locator("#step-2-text").fill("{{ steps.prompt_2.text }}")
    page.get_by_test_id("step-type").select_option("notify")
    page.get_by_test_id("step-add").click()
    page.locator("#step-3-to").fill(f"team@{DIGEST}.example")
    page.locator("#step-3-subject").fill("Weekly digest: {{ input.topic }}")
    page.locator("#step-3-body").fill("{{ steps.prompt_2.text }}")
    page.get_by_label("Schedule (cron)").fill("0 9 * * 1")
    page.get_by_label("Time zone").fill("Europe/Paris")
    page.get_by_test_id("workflow-inputs").fill("topic=refunds")
    page.get_by_test_id("workflow-inputs").blur()
    page.get_by_test_id("workflow-publish").click()
    expect(page.get_by_test_id("workflow-published")).to_contain_text("Published version 1")
    expect(page.get_by_text(re.compile("next run"))).to_be_visible()

    # and runs it once by hand: the steps appear as they run
    page.get_by_role("textbox", name="topic", exact=True).fill("refunds")
    page.get_by_test_id("workflow-run").click()
    steps = page.get_by_test_id("run-view").get_by_test_id("run-step")
    expect(page.get_by_test_id("run-status")).to_have_text("running", timeout=30_000)
    expect(steps.nth(1)).to_contain_text("running", timeout=30_000)  # the summary, waiting
    expect(steps.nth(0)).to_contain_text("succeeded")
    expect(steps).to_have_count(2)  # nothing after it has started
    snap(page, "workflow-digest-progress")
    expect(page.get_by_test_id("run-status")).to_have_text("succeeded", timeout=60_000)
    expect(steps).to_have_count(4)
    for n in range(4):
        expect(steps.nth(n)).to_contain_text("succeeded")

    # then: its cost is shown (2,000 tokens of gpt-4o-mini), on the run and on the step
    expect(page.get_by_test_id("run-view")).to_contain_text("2000 tokens")
    expect(page.get_by_test_id("run-cost")).to_have_text(re.compile(r"\$0\.0*[1-9]"))
    expect(steps.nth(1)).to_contain_text("2000 tokens")
    snap(page, "workflow-digest-run")
    # the summary was written from last week's passages of the handbook
    (asked,) = [r for r in provider.requests if r.path.endswith("/chat/completions")]
    prompt = asked.body["messages"][-1]["content"]
    assert "about refunds" in prompt and "refund" in prompt.split("\n", 1)[1].lower()
    # saved to the collection, and e-mailed
    saved = platform.shell(
        f"""
from django_tenants.utils import schema_context
from knowledge_base.models import Document
with schema_context({DIGEST!r}):
    print([(d.title, d.collection.name) for d in Document.objects.filter(title__startswith="Digest")])
"""
    )
    assert "('Digest: refunds, " in saved and "'Digests')" in saved
    (mail,) = platform.mail_to(f"team@{DIGEST}.example")
    assert mail["Subject"] == "Weekly digest: refunds"
    assert SUMMARY in mail.get_content()


NOTIFY = "flowsnotify"  # its own organization: others' pages expect no Slack workspace


def test_a_notify_step_posts_to_the_slack_channel_picked_in_the_builder(page, platform):
    """A member picks "Slack channel" and one of the channels the organization's Slack bot
    is in; publishing checks it; a run by hand posts the rendered message there."""
    # given: the organization's Slack workspace (installed by its admin), its bot in
    # #C0SUPPORT
    organization = create_organization(platform, NOTIFY, "Flows Notify")
    platform.slack.workspace("T0NOTIFY", team_name="Notify Slack", bot_token="xoxb-notify")
    platform.shell(
        """
from slack_sdk.oauth.installation_store import Installation
from integrations import bots
from integrations.slack.store import installation_store
from users.models import Organization
integration = installation_store.save_for(
    Installation(app_id="A0001", team_id="T0NOTIFY", team_name="Notify Slack",
                 bot_token="xoxb-notify", bot_id="B0001", bot_user_id="UBOT", user_id="UADMIN"),
    organization=Organization.objects.get(schema_name="flowsnotify"),
    user=None,
)
bots.channel_seen(integration=integration, channel_id="C0SUPPORT", kind="channel")
"""
    )
    login(page, organization, "member")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Workflows").click()
    page.get_by_label("New workflow").fill("Tell support")
    page.get_by_test_id("workflow-create").click()
    expect(page.get_by_role("heading", name="Tell support", level=1)).to_be_visible()

    # when: a notify step to Slack, published first without its channel
    page.get_by_test_id("step-type").select_option("notify")
    page.get_by_test_id("step-add").click()
    page.get_by_test_id("step-target-0").select_option("slack")
    page.locator("#step-0-subject").fill("Refunds")
    page.locator("#step-0-body").fill("Run {{ run.trigger }}: the refunds digest is ready.")
    page.watch.expect_refusal(400)
    page.get_by_test_id("workflow-publish").click()
    expect(page.get_by_test_id("step-error-0-channel_id")).to_contain_text("required")
    page.get_by_test_id("step-destination-0").select_option(label="Notify Slack · #C0SUPPORT")
    page.get_by_test_id("workflow-publish").click()
    expect(page.get_by_test_id("workflow-published")).to_contain_text("Published version 1")
    snap(page, "workflow-notify-slack")

    # then: a run by hand posts it in the channel
    page.get_by_test_id("workflow-run").click()
    expect(page.get_by_test_id("run-status")).to_have_text("succeeded", timeout=60_000)
    (message,) = platform.slack.in_channel("C0SUPPORT")
    assert message.text == "*Refunds*\nRun manual: the refunds digest is ready."

"""Workflows' notify step posting to Slack and Teams (integrations/notify.py, registered
in core.notifications): targets checked at publish (this organization's installed
integration, a channel its bot is in), the rendered message on the local Slack and Bot
Framework fakes through slack-sdk and the Agents SDK, never twice after an interrupted
attempt, retries on 429/5xx (Slack's Retry-After honoured), no retry on a permanent
refusal, the destinations list the builder picks from, and a run on the real worker."""

import json

import pytest
from django_tenants.utils import schema_context

from audit.services import Actor
from core import notifications
from core.errors import ValidationFailed
from integrations import bot_services, bots
from integrations.models import IntegrationChannel, IntegrationStatus
from integrations.tests.conftest import wait_for
from tests.factories import slack_integration_for
from tests.helpers import HostClient
from workflows import executor, services
from workflows.models import RunStatus, StepStatus, WorkflowRun, WorkflowStepRun
from workflows.tests.builders import published, start, transform

APP_ID = "0a1b2c3d-0000-4000-8000-00000000c0c1"
TENANT_ID = "7e57e57e-0000-4000-8000-00000000cccc"
PASSWORD = "notify-bot-secret"
CHANNEL = "C0NEWS"
CONVERSATION = "19:news@thread.tacv2"


def advance(run):
    return executor.run_advance(run_id=run.pk, owner="test-worker")


def slack_installed(org, slack, *, team_id="T0001", channel=CHANNEL):
    """``org``'s Slack workspace on the fake, its bot in ``channel``."""
    slack.workspace(team_id, bot_token=f"xoxb-{team_id.lower()}")
    integration = slack_integration_for(org, team_id=team_id, problems=0)
    bots.channel_seen(integration=integration, channel_id=channel, kind="channel")
    return integration


def teams_installed(org, teams, *, conversation=CONVERSATION):
    integration = bot_services.teams_connect(
        organization=org.organization,
        name="News bot",
        app_id=APP_ID,
        app_password=PASSWORD,
        tenant_id=TENANT_ID,
        actor=Actor(user=org.admin),
    )
    teams.bots[APP_ID] = PASSWORD
    bots.channel_seen(
        integration=integration,
        channel_id=conversation,
        kind="channel",
        name="Sales / News",
        service_url=teams.service_url,
    )
    return integration


def notify(target, integration, channel_id, **extra) -> dict:
    return {
        "key": "tell",
        "type": "notify",
        "target": target,
        "integration_id": str(integration.pk),
        "channel_id": channel_id,
        "subject": "Digest: {{ input.topic }}",
        "body": "{{ steps.greet.value }}",
        **extra,
    }


def greeting_then(org, step: dict):
    return published(
        org,
        [transform("greet", "Refunds are paid within 14 days ({{ input.topic }})."), step],
        input_schema=[{"name": "topic"}],
    )


def step_of(run, key="tell") -> WorkflowStepRun:
    return run.steps.get(key=key)


# -- sending ------------------------------------------------------------------------


@pytest.mark.django_db
class TestSlack:
    def test_the_rendered_message_arrives_in_the_channel(self, tenant, slack):
        integration = slack_installed(tenant, slack)
        run = start(tenant, greeting_then(tenant, notify("slack", integration, CHANNEL)),
                    {"topic": "refunds"})  # fmt: skip

        assert advance(run)[0] == executor.Outcome.FINISHED
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED, run.error
        (message,) = slack.in_channel(CHANNEL)
        assert message.text == "*Digest: refunds*\nRefunds are paid within 14 days (refunds)."
        assert message.metadata["event_payload"] == {"key": f"wf-{run.pk}-tell"}
        step = step_of(run)
        assert step.output["message_id"] == message.ts
        assert step.input["delivery"] == "sent"
        # the bot's own token: the message is the workspace's bot's
        assert ("chat.postMessage", "xoxb-t0001") in [(m, t) for m, _, t in slack.calls]

    def test_run_again_after_an_interrupted_attempt_posts_nothing_twice(self, tenant, slack):
        # given: a run whose notify step posted, then its worker died before the step's
        # end was written (the row as a kill leaves it: running, "sending")
        integration = slack_installed(tenant, slack)
        run = start(tenant, greeting_then(tenant, notify("slack", integration, CHANNEL)),
                    {"topic": "refunds"})  # fmt: skip
        advance(run)
        step = step_of(run)
        WorkflowStepRun.objects.filter(pk=step.pk).update(
            status=StepStatus.RUNNING, output={}, finished_at=None,
            input={**step.input, "delivery": "sending"},
        )  # fmt: skip
        WorkflowRun.objects.filter(pk=run.pk).update(
            status=RunStatus.RUNNING, finished_at=None, lease_until=None
        )

        # when: the run resumes (the step is attempted again)
        assert advance(run)[0] == executor.Outcome.FINISHED

        # then: still one message; the earlier one was found by its key
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED, run.error
        assert len(slack.in_channel(CHANNEL)) == 1
        assert slack.methods().count("chat.postMessage") == 1
        step = step_of(run)
        assert step.attempts == 2
        assert step.output["sent_earlier"] is True
        assert step.output["message_id"] == slack.in_channel(CHANNEL)[0].ts

    def test_a_429_waits_its_retry_after_then_posts_once(self, tenant, slack):
        integration = slack_installed(tenant, slack)
        slack.http_failures["chat.postMessage"] = [
            (429, {"Retry-After": "7"}, {"ok": False, "error": "ratelimited"})
        ]
        run = start(tenant, greeting_then(tenant, notify("slack", integration, CHANNEL)),
                    {"topic": "refunds"})  # fmt: skip

        outcome, delay = advance(run)
        assert (outcome, delay) == (executor.Outcome.RETRY, 7.0)  # not the 2 s backoff
        step = step_of(run)
        assert step.status == StepStatus.RETRYING
        assert "rate limiting" in step.error
        assert slack.in_channel(CHANNEL) == []

        assert advance(run)[0] == executor.Outcome.FINISHED
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED, run.error
        assert len(slack.in_channel(CHANNEL)) == 1
        assert step_of(run).attempts == 2

    def test_a_5xx_is_retried_with_backoff_up_to_the_steps_retries(self, tenant, slack):
        integration = slack_installed(tenant, slack)
        slack.http_failures["chat.postMessage"] = [
            (503, {}, {"ok": False, "error": "service_unavailable"})
        ] * 2
        step = notify("slack", integration, CHANNEL, retries=1)
        run = start(tenant, greeting_then(tenant, step), {"topic": "refunds"})

        assert advance(run) == (executor.Outcome.RETRY, executor.BACKOFF_BASE_SECONDS)
        assert advance(run)[0] == executor.Outcome.FINISHED  # retries=1: the second fails it
        run.refresh_from_db()
        assert run.status == RunStatus.FAILED
        assert "503" in run.error
        assert slack.methods().count("chat.postMessage") == 2
        assert slack.in_channel(CHANNEL) == []

    @pytest.mark.parametrize("code", ["channel_not_found", "not_in_channel"])
    def test_a_permanent_refusal_fails_at_once_with_the_reason(self, tenant, slack, code):
        integration = slack_installed(tenant, slack)
        slack.failures["chat.postMessage"] = code
        run = start(tenant, greeting_then(tenant, notify("slack", integration, CHANNEL)),
                    {"topic": "refunds"})  # fmt: skip

        assert advance(run)[0] == executor.Outcome.FINISHED
        run.refresh_from_db()
        assert run.status == RunStatus.FAILED
        assert code in run.error and run.error.startswith("tell: Slack refused the message")
        assert step_of(run).attempts == 1
        assert slack.methods().count("chat.postMessage") == 1  # no retry storm

    def test_uninstalled_since_publish_fails_clearly_without_calling_slack(self, tenant, slack):
        integration = slack_installed(tenant, slack)
        run = start(tenant, greeting_then(tenant, notify("slack", integration, CHANNEL)),
                    {"topic": "refunds"})  # fmt: skip
        bot_services.integration_disconnect(integration=integration, actor=Actor())

        advance(run)
        run.refresh_from_db()
        assert run.status == RunStatus.FAILED
        assert "not installed" in run.error
        assert "chat.postMessage" not in slack.methods()


@pytest.mark.django_db
class TestTeams:
    def test_the_rendered_message_arrives_in_the_conversation(self, tenant, teams):
        integration = teams_installed(tenant, teams)
        run = start(tenant, greeting_then(tenant, notify("teams", integration, CONVERSATION)),
                    {"topic": "refunds"})  # fmt: skip

        advance(run)
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED, run.error
        (sent,) = teams.replies_in(CONVERSATION)
        assert sent.text == "**Digest: refunds**\n\nRefunds are paid within 14 days (refunds)."
        assert sent.reply_to is None  # a new message, not a reply
        assert step_of(run).output["message_id"] == sent.id
        # with the bot's app token from the token endpoint
        assert ("POST", "/token") in teams.calls

    def test_run_again_after_an_interrupted_attempt_posts_nothing_twice(self, tenant, teams):
        integration = teams_installed(tenant, teams)
        run = start(tenant, greeting_then(tenant, notify("teams", integration, CONVERSATION)),
                    {"topic": "refunds"})  # fmt: skip
        advance(run)
        step = step_of(run)
        WorkflowStepRun.objects.filter(pk=step.pk).update(
            status=StepStatus.RUNNING, output={}, finished_at=None,
            input={**step.input, "delivery": "sending"},
        )  # fmt: skip
        WorkflowRun.objects.filter(pk=run.pk).update(
            status=RunStatus.RUNNING, finished_at=None, lease_until=None
        )

        advance(run)

        run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED, run.error
        assert len(teams.replies_in(CONVERSATION)) == 1
        assert step_of(run).output["confirmed"] is False  # said, not hidden

    def test_a_5xx_then_success_posts_once(self, tenant, teams):
        integration = teams_installed(tenant, teams)
        teams.post_failures.append((502, {}))
        run = start(tenant, greeting_then(tenant, notify("teams", integration, CONVERSATION)),
                    {"topic": "refunds"})  # fmt: skip

        assert advance(run)[0] == executor.Outcome.RETRY
        assert advance(run)[0] == executor.Outcome.FINISHED
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED, run.error
        assert len(teams.replies_in(CONVERSATION)) == 1

    def test_a_conversation_the_bot_left_fails_without_retrying(self, tenant, teams):
        integration = teams_installed(tenant, teams)
        teams.conversations.add("19:other@thread.tacv2")  # CONVERSATION is unknown now
        run = start(tenant, greeting_then(tenant, notify("teams", integration, CONVERSATION)),
                    {"topic": "refunds"})  # fmt: skip

        advance(run)
        run.refresh_from_db()
        assert run.status == RunStatus.FAILED
        assert "removed from this conversation" in run.error
        assert step_of(run).attempts == 1


# -- checked at publish --------------------------------------------------------------


@pytest.mark.django_db
class TestPublish:
    def publish_errors(self, org, step) -> dict:
        workflow, _ = services.workflow_create(
            user=org.admin, name="Check", draft={"steps": [transform("greet", "hi"), step]}
        )
        with pytest.raises(ValidationFailed) as raised:
            services.workflow_publish(workflow=workflow, user=org.admin)
        return raised.value.fields

    def test_unknown_or_another_organizations_integration_is_a_field_error(
        self, org_a, org_b, slack, teams
    ):
        with schema_context(org_b.slug):
            theirs = slack_installed(org_b, slack, team_id="T0B")
        with schema_context(org_a.slug):
            fields = self.publish_errors(org_a, notify("slack", theirs, CHANNEL))
            assert fields == {
                "steps.1.integration_id": ["No Slack integration of this organization."]
            }
            teams_bot = teams_installed(org_a, teams)
            # a Teams bot is not a Slack workspace
            fields = self.publish_errors(org_a, notify("slack", teams_bot, CONVERSATION))
            assert list(fields) == ["steps.1.integration_id"]

    def test_a_channel_the_bot_is_not_in_is_a_field_error(self, tenant, slack):
        integration = slack_installed(tenant, slack)
        fields = self.publish_errors(tenant, notify("slack", integration, "C0ELSEWHERE"))
        assert list(fields) == ["steps.1.channel_id"]
        assert "not in this Slack channel" in fields["steps.1.channel_id"][0]

    def test_a_persons_direct_chat_with_the_bot_is_not_a_target(self, tenant, slack):
        integration = slack_installed(tenant, slack)
        bots.channel_seen(integration=integration, channel_id="D0ALICE", kind="im")
        fields = self.publish_errors(tenant, notify("slack", integration, "D0ALICE"))
        assert list(fields) == ["steps.1.channel_id"]
        listed = HostClient(tenant.host, tenant.member).get(TestDestinationsAPI.URL).json()
        assert [d["channel_id"] for d in listed["results"]] == [CHANNEL]

    def test_a_disconnected_integration_is_a_field_error(self, tenant, slack):
        integration = slack_installed(tenant, slack)
        bot_services.integration_disconnect(integration=integration, actor=Actor())
        fields = self.publish_errors(tenant, notify("slack", integration, CHANNEL))
        assert "not installed" in fields["steps.1.integration_id"][0]

    def test_fields_each_target_needs(self, tenant, slack):
        integration = slack_installed(tenant, slack)
        fields = self.publish_errors(
            tenant, {"key": "tell", "type": "notify", "target": "slack", "body": "x"}
        )
        assert set(fields) == {"steps.1.integration_id", "steps.1.channel_id"}
        fields = self.publish_errors(
            tenant, {**notify("email", integration, CHANNEL), "to": ["a@example.test"]}
        )
        assert set(fields) == {"steps.1.integration_id", "steps.1.channel_id"}
        fields = self.publish_errors(tenant, {**notify("sms", integration, CHANNEL)})
        assert fields == {"steps.1.target": ["One of: email, slack, teams."]}

    def test_a_valid_target_publishes(self, tenant, slack, teams):
        slack_integration = slack_installed(tenant, slack)
        teams_integration = teams_installed(tenant, teams)
        workflow = published(
            tenant,
            [
                transform("greet", "hi"),
                notify("slack", slack_integration, CHANNEL),
                {**notify("teams", teams_integration, CONVERSATION), "key": "tell_teams"},
            ],
        )
        assert workflow.published_version.number == 1


# -- where the bots are: recorded, listed ----------------------------------------------


@pytest.mark.django_db
def test_channels_are_recorded_when_the_bots_are_added(org_a, slack, teams):
    from integrations.tests.test_slack import callback, post_event
    from integrations.tests.test_teams import post as post_activity

    ws = slack.workspace("T0001", bot_token="xoxb-t0001")
    slack_integration = slack_integration_for(org_a, problems=0)
    with schema_context(org_a.slug):
        teams_integration = bot_services.teams_connect(
            organization=org_a.organization, name="News bot", app_id=APP_ID,
            app_password=PASSWORD, tenant_id=TENANT_ID, actor=Actor(user=org_a.admin),
        )  # fmt: skip
    joined = {"type": "member_joined_channel", "user": ws.bot_user_id, "channel": CHANNEL,
              "channel_type": "C", "team": ws.team_id}  # fmt: skip
    assert post_event(callback(joined, ws, event_id="Ev1")).status_code == 200
    added = teams.activity(app_id=APP_ID, tenant_id=TENANT_ID, text="",
                           conversation_id=CONVERSATION)  # fmt: skip
    added["type"] = "conversationUpdate"
    added["channelData"]["channel"]["name"] = "News"
    added["channelData"]["team"]["name"] = "Sales"
    added["membersAdded"] = [{"id": f"28:{APP_ID}"}]
    token = teams.token_for(app_id=APP_ID, service_url=added["serviceUrl"])
    assert post_activity(teams, added, token=token).status_code == 200

    slack_row = IntegrationChannel.objects.get(integration=slack_integration)
    assert (slack_row.channel_id, slack_row.kind) == (CHANNEL, "channel")
    teams_row = IntegrationChannel.objects.get(integration=teams_integration)
    assert (teams_row.channel_id, teams_row.name, teams_row.service_url) == (
        CONVERSATION, "Sales / News", teams.service_url,
    )  # fmt: skip


@pytest.mark.django_db
class TestDestinationsAPI:
    URL = "/api/v1/workflow-notify-destinations"

    def test_members_list_their_organizations_channels_only(self, org_a, org_b, slack, teams):
        with schema_context(org_a.slug):
            slack_installed(org_a, slack)
            teams_installed(org_a, teams)
        with schema_context(org_b.slug):
            slack_installed(org_b, slack, team_id="T0B", channel="C0BETA")
        member = HostClient(org_a.host, org_a.member)

        body = member.get(self.URL).json()
        assert body["count"] == 2
        assert {(d["target"], d["channel_id"], d["name"]) for d in body["results"]} == {
            ("slack", CHANNEL, ""),
            ("teams", CONVERSATION, "Sales / News"),
        }
        only_slack = member.get(self.URL, {"target": "slack"}).json()["results"]
        assert [d["integration_name"] for d in only_slack] == ["Acme Slack"]
        assert member.get(self.URL, {"page_size": 1}).json()["next"]
        # beta's channels, on beta's host
        beta = HostClient(org_b.host, org_b.admin).get(self.URL).json()
        assert [d["channel_id"] for d in beta["results"]] == ["C0BETA"]

    def test_a_disconnected_integrations_channels_are_not_offered(self, tenant, slack):
        integration = slack_installed(tenant, slack)
        integration.status = IntegrationStatus.DISCONNECTED
        integration.save()
        assert HostClient(tenant.host, tenant.member).get(self.URL).json()["count"] == 0

    def test_a_bad_target_is_a_field_error(self, org_a):
        response = HostClient(org_a.host, org_a.member).get(self.URL, {"target": "sms"})
        assert response.status_code == 400
        assert "target" in response.json()["error"]["fields"]

    def test_another_organization_gets_404(self, org_a, org_b):
        response = HostClient(org_a.host, org_b.admin).get(self.URL)
        assert response.status_code == 404

    def test_every_kind_is_registered_by_the_integrations_app(self):
        assert notifications.kinds() == ["slack", "teams"]


# -- on the real worker ----------------------------------------------------------------


def test_a_run_on_the_worker_posts_to_slack_and_teams_once_each(alpha, slack, teams):
    """The path a run takes in production: the task queued on commit, a Celery worker
    process (its own settings, pointed at the fakes) advancing the run step by step."""
    with schema_context(alpha.slug):
        slack_integration = slack_installed(alpha, slack)
        teams_integration = teams_installed(alpha, teams)
        workflow = published(
            alpha,
            [
                transform("greet", "Refunds are paid within 14 days ({{ input.topic }})."),
                notify("slack", slack_integration, CHANNEL),
                {**notify("teams", teams_integration, CONVERSATION), "key": "tell_teams"},
            ],
            input_schema=[{"name": "topic"}],
            name="Notify on the worker",
        )
        try:
            run = start(alpha, workflow, {"topic": "refunds"})  # queued when this commits

            def finished():
                run.refresh_from_db()
                return run.status in executor.FINISHED

            wait_for(finished, timeout=60, what="the workflow run")
            assert run.status == RunStatus.SUCCEEDED, run.error
            (posted,) = slack.in_channel(CHANNEL)
            assert posted.text.endswith("Refunds are paid within 14 days (refunds).")
            (sent,) = teams.replies_in(CONVERSATION)
            assert "Refunds are paid within 14 days (refunds)." in sent.text
            assert [s.status for s in run.steps.order_by("index")] == ["succeeded"] * 3
            assert json.dumps(run.steps.get(key="tell_teams").output)
        finally:
            WorkflowStepRun.objects.filter(run__workflow=workflow).delete()
            WorkflowRun.objects.filter(workflow=workflow).delete()
            workflow.delete()

"""A workflow run survives its worker's death: the whole worker is killed (``kill -9``)
while a step's HTTP request is in flight, started again, and the run completes; no
finished step runs again, and the interrupted request is repeated only with the same
idempotency key (so the receiving server processes each request exactly once)."""

import signal
import time

import pytest

from tests.faults.harness import wait_for
from workflows.tests.receiver import Receiver

pytestmark = pytest.mark.faults


@pytest.fixture
def receiver():
    server = Receiver().start()
    server.hold_seconds["/second"] = 8.0  # the worker is killed while it waits for this
    yield server
    server.stop()


def _steps(bed, run_id):
    rows = bed.sql(
        "SELECT index, key, status, attempts FROM workflows_workflowsteprun "
        "WHERE run_id = %s ORDER BY index",
        [run_id],
    )
    return [dict(zip(["index", "key", "status", "attempts"], row, strict=True)) for row in rows]


def _status(bed, run_id):
    ((status, error),) = bed.sql(
        "SELECT status, error FROM workflows_workflowrun WHERE id = %s", [run_id]
    )
    return status, error


def test_a_worker_killed_mid_run_resumes_and_repeats_no_finished_side_effect(platform, receiver):
    # given: a published 5-step workflow calling the local server three times
    url = receiver.url
    status, workflow = platform.request(
        "POST",
        "/api/v1/workflows",
        {
            "name": "Crash test",
            "draft": {
                "steps": [
                    {
                        "key": "prepare",
                        "type": "transform",
                        "template": '{"order": "{{ input.order }}"}',
                        "output": "json",
                    },
                    {
                        "key": "first",
                        "type": "http_request",
                        "method": "POST",
                        "url": f"{url}/first",
                        "body": "{{ steps.prepare.value.order }}",
                    },
                    {
                        "key": "second",
                        "type": "http_request",
                        "method": "POST",
                        "url": f"{url}/second",
                        "body": "{{ steps.first.json.path }}",
                    },
                    {
                        "key": "summary",
                        "type": "transform",
                        "template": "{{ steps.first.status }}/{{ steps.second.status }}",
                    },
                    {
                        "key": "third",
                        "type": "http_request",
                        "method": "POST",
                        "url": f"{url}/third",
                        "body": "{{ steps.summary.value }}",
                    },
                ],
                "input_schema": [{"name": "order"}],
            },
        },
    )
    assert status == 201, workflow
    status, body = platform.request("POST", f"/api/v1/workflows/{workflow['id']}/publish", {})
    assert status == 201, body
    status, run = platform.request(
        "POST", f"/api/v1/workflows/{workflow['id']}/runs", {"input": {"order": "A-17"}}
    )
    assert status == 201, run

    # when: the whole worker is killed while "second" waits for the server's answer
    wait_for(lambda: "/second" in receiver.paths(), "the run to reach its second request")
    assert _steps(platform, run["id"])[2]["status"] == "running"
    platform.stop("worker", signal.SIGKILL)
    time.sleep(1)
    platform.start("worker")

    # then: the lease nobody renews expires, the sweep queues the run again, and it ends
    final = wait_for(
        lambda: (s := _status(platform, run["id"]))[0] in ("succeeded", "failed") and s,
        "the run to finish after the restart",
        timeout=180,
    )
    assert final == ("succeeded", "")
    steps = _steps(platform, run["id"])
    assert [s["key"] for s in steps] == ["prepare", "first", "second", "summary", "third"]
    assert all(s["status"] == "succeeded" for s in steps)
    assert [s["attempts"] for s in steps] == [1, 1, 2, 1, 1]
    paths = receiver.paths()
    # finished side effects never repeated
    assert paths.count("/first") == 1 and paths.count("/third") == 1
    # the interrupted one was sent again with the same key and processed once
    second = [r for r in receiver.received if r["path"] == "/second"]
    assert len(second) == 2
    assert {r["headers"]["idempotency-key"] for r in second} == {f"wf-{run['id']}-second"}
    assert len(receiver.processed) == 3
    assert second[0]["body"] == second[1]["body"] == "/first"


SLACK_SETUP = """
import json
from slack_sdk.oauth.installation_store import Installation
from integrations import bots
from integrations.slack.store import installation_store
from users.models import Organization
integration = installation_store.save_for(
    Installation(app_id="A0001", team_id="TFAULTS", team_name="Faults Slack",
                 bot_token="xoxb-faults", bot_id="B0001", bot_user_id="UBOT", user_id="UADMIN"),
    organization=Organization.objects.get(schema_name="faults"),
    user=None,
)
bots.channel_seen(integration=integration, channel_id="C0OPS", kind="channel")
print("INTEGRATION=" + str(integration.pk))
"""


def test_a_worker_killed_while_slack_posts_a_notify_step_leaves_one_message(platform, slack):
    """The worker dies after Slack posted the message but before its answer arrived (so
    before the step's end was written); after the restart the step runs again, finds its
    message in the channel by the idempotency key in its metadata and posts nothing."""
    # given: the organization's Slack workspace, its bot in #C0OPS, and a workflow that
    # notifies there
    slack.workspace("TFAULTS", bot_token="xoxb-faults")
    out = platform.manage("shell", "-c", SLACK_SETUP)
    integration = next(x for x in out.splitlines() if x.startswith("INTEGRATION="))[12:]
    status, workflow = platform.request(
        "POST",
        "/api/v1/workflows",
        {
            "name": "Tell ops",
            "draft": {
                "steps": [
                    {"key": "prepare", "type": "transform", "template": "Order {{ input.order }}"},
                    {
                        "key": "tell",
                        "type": "notify",
                        "target": "slack",
                        "integration_id": integration,
                        "channel_id": "C0OPS",
                        "body": "{{ steps.prepare.value }} shipped.",
                    },
                    {"key": "done", "type": "transform", "template": "ok"},
                ],
                "input_schema": [{"name": "order"}],
            },
        },
    )
    assert status == 201, workflow
    status, body = platform.request("POST", f"/api/v1/workflows/{workflow['id']}/publish", {})
    assert status == 201, body
    slack.hold_seconds["chat.postMessage"] = 8.0  # posted, its answer late: killed then
    status, run = platform.request(
        "POST", f"/api/v1/workflows/{workflow['id']}/runs", {"input": {"order": "A-17"}}
    )
    assert status == 201, run

    # when: the whole worker is killed while Slack's answer is on its way
    wait_for(lambda: slack.in_channel("C0OPS"), "Slack to receive the message")
    assert _steps(platform, run["id"])[1]["status"] == "running"
    platform.stop("worker", signal.SIGKILL)
    time.sleep(1)
    platform.start("worker")

    # then: the run completes with the one message
    final = wait_for(
        lambda: (s := _status(platform, run["id"]))[0] in ("succeeded", "failed") and s,
        "the run to finish after the restart",
        timeout=180,
    )
    assert final == ("succeeded", "")
    assert [s["attempts"] for s in _steps(platform, run["id"])] == [1, 2, 1]
    (message,) = slack.in_channel("C0OPS")
    assert message.text == "Order A-17 shipped."
    assert slack.methods().count("chat.postMessage") == 1
    assert "conversations.history" in slack.methods()  # the retry looked before posting

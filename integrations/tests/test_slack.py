"""The Slack bot end to end: slack-bolt and slack-sdk against the local Slack fake,
events signed as Slack signs them, answered by a real Celery worker process running the
real chat turn (local extractive model and embedder). The rows are committed (the worker
has its own connection) and removed after each test (``committed`` in conftest.py)."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from billing.models import UsageRecord
from chat.models import ChatSession, Message
from integrations.models import (
    Integration,
    IntegrationEvent,
    IntegrationRoute,
    IntegrationStatus,
    IntegrationThread,
)
from integrations.tests.conftest import BOT_PLAN, knowledge_assistant, wait_for
from integrations.tests.fakes.slack import sign
from tests.factories import make_assistant
from tests.helpers import HostClient

EVENTS = "/integrations/slack/events"


def post_event(body: dict, *, headers: dict | None = None, secret=None, retry: int | None = None):
    raw = json.dumps(body).encode()
    signed = sign(raw) if secret is None else sign(raw, secret=secret)
    extra = {**signed, **(headers or {})}
    if retry is not None:
        extra["HTTP_X_SLACK_RETRY_NUM"] = str(retry)
        extra["HTTP_X_SLACK_RETRY_REASON"] = "http_timeout"
    client = HostClient("localhost")
    return client.generic("POST", EVENTS, raw, content_type="application/json", **extra)


def settled(delivery_id: str) -> IntegrationEvent:
    """The stored event once the worker has answered it (or failed to, out loud)."""
    return wait_for(
        lambda: IntegrationEvent.objects.filter(
            delivery_id=delivery_id, status__in=["answered", "failed"]
        ).first(),
        what=f"the worker to answer {delivery_id}",
    )


def callback(event: dict, ws, *, event_id: str) -> dict:
    return {
        "token": "unused",
        "team_id": ws.team_id,
        "api_app_id": "A0001",
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1700000000,
        "event": event,
        "authorizations": [{"team_id": ws.team_id, "user_id": ws.bot_user_id, "is_bot": True}],
    }


def install(org, slack, team_id="T0001") -> Integration:
    """The admin's "Add to Slack": install URL, Slack's consent, the OAuth redirect."""
    ws = slack.workspaces.get(team_id) or slack.workspace(team_id)
    admin = HostClient(org.host, org.admin)
    response = admin.post("/api/v1/integrations/slack/install")
    assert response.status_code == 200, response.content
    query = parse_qs(urlsplit(response.json()["url"]).query)
    assert "app_mentions:read" in query["scope"][0]
    code = slack.oauth_code(ws.team_id)
    back = HostClient("localhost").get(
        "/integrations/slack/oauth/callback", {"code": code, "state": query["state"][0]}
    )
    assert back.status_code == 302, back.content
    assert back["Location"].endswith("/integrations?slack=connected")
    return Integration.objects.get(organization=org.organization, external_id=ws.team_id)


@pytest.fixture
def connected(alpha, slack):
    """Alpha's Slack workspace, its default assistant answering from the handbook."""
    assistant = knowledge_assistant(alpha)
    integration = install(alpha, slack)
    integration.config = {"default_assistant_id": str(assistant.id)}
    integration.save()
    ws = slack.workspaces["T0001"]
    ws.users["UALICE"] = alpha.member.email
    ws.users["UBOB"] = "bob@elsewhere.test"
    return integration, ws, assistant


def mention(slack, ws, text, *, channel="C100", user="UALICE", thread_ts=None):
    event = slack.say(
        ws, channel=channel, user=user, text=f"<@{ws.bot_user_id}> {text}", thread_ts=thread_ts
    )
    event["type"] = "app_mention"
    return event


class TestInstall:
    def test_oauth_install_stores_an_encrypted_token_and_a_route(self, alpha, slack):
        integration = install(alpha, slack)
        assert integration.status == IntegrationStatus.ACTIVE
        assert integration.name == "Acme Slack"
        assert "xoxb" not in integration.token_encrypted  # encrypted at rest
        assert IntegrationRoute.objects.get(key="T0001").organization == alpha.organization
        with schema_context(alpha.slug):
            assert AuditEvent.objects.filter(action="integration.connected").exists()

    def test_an_organization_may_connect_several_workspaces(self, alpha, slack):
        first = install(alpha, slack, team_id="T0001")
        slack.workspace("T0002", bot_token="xoxb-second", team_name="Second Slack")
        second = install(alpha, slack, team_id="T0002")
        assert first.pk != second.pk
        routes = IntegrationRoute.objects.filter(organization=alpha.organization)
        assert sorted(routes.values_list("key", flat=True)) == ["T0001", "T0002"]
        assert {first.status, second.status} == {IntegrationStatus.ACTIVE}

    def test_a_workspace_cannot_be_claimed_by_a_second_organization(self, alpha, beta, slack):
        install(alpha, slack)
        admin = HostClient(beta.host, beta.admin)
        url = admin.post("/api/v1/integrations/slack/install").json()["url"]
        state = parse_qs(urlsplit(url).query)["state"][0]
        back = HostClient("localhost").get(
            "/integrations/slack/oauth/callback",
            {"code": slack.oauth_code("T0001"), "state": state},
        )
        assert back["Location"].endswith("?slack=error&code=workspace_claimed")
        assert IntegrationRoute.objects.get(key="T0001").organization == alpha.organization
        assert not Integration.objects.filter(organization=beta.organization).exists()

    def test_a_forged_or_replayed_state_is_refused(self, alpha, slack):
        slack.workspace("T0001")
        forged = HostClient("localhost").get(
            "/integrations/slack/oauth/callback", {"code": slack.oauth_code("T0001"), "state": "x"}
        )
        assert forged.status_code == 400
        url = HostClient(alpha.host, alpha.admin).post("/api/v1/integrations/slack/install")
        state = parse_qs(urlsplit(url.json()["url"]).query)["state"][0]
        first = HostClient("localhost").get(
            "/integrations/slack/oauth/callback",
            {"code": slack.oauth_code("T0001"), "state": state},
        )
        assert first.status_code == 302
        again = HostClient("localhost").get(
            "/integrations/slack/oauth/callback",
            {"code": slack.oauth_code("T0001"), "state": state},
        )
        assert again.status_code == 400
        assert Integration.objects.filter(organization=alpha.organization).count() == 1

    def test_members_cannot_start_an_install(self, alpha, slack):
        response = HostClient(alpha.host, alpha.member).post("/api/v1/integrations/slack/install")
        assert response.status_code == 403


class TestEvents:
    def test_url_verification_is_answered(self, db, slack):
        response = post_event({"type": "url_verification", "challenge": "abc123", "token": "t"})
        assert response.status_code == 200
        assert json.loads(response.content) == {"challenge": "abc123"}

    def test_a_bad_signature_is_refused_and_nothing_is_stored(self, connected, slack):
        integration, ws, _ = connected
        body = callback(mention(slack, ws, "What is the refund policy?"), ws, event_id="Ev1")
        response = post_event(body, secret="not-the-secret")
        assert response.status_code == 401
        assert not IntegrationEvent.objects.filter(integration=integration).exists()
        assert "chat.startStream" not in slack.methods()

    def test_an_old_timestamp_is_refused(self, connected, slack):
        integration, ws, _ = connected
        raw = json.dumps(callback(mention(slack, ws, "Refunds?"), ws, event_id="Ev2")).encode()
        import time

        headers = sign(raw, timestamp=int(time.time()) - 600)
        response = HostClient("localhost").generic(
            "POST", EVENTS, raw, content_type="application/json", **headers
        )
        assert response.status_code == 401
        assert not IntegrationEvent.objects.filter(integration=integration).exists()

    def test_an_unknown_workspace_touches_no_organization(self, connected, slack):
        stranger = slack.workspace("T9999", bot_token="xoxb-other")
        slack.calls.clear()
        event = mention(slack, stranger, "hello?")
        response = post_event(callback(event, stranger, event_id="Ev3"))
        assert response.status_code == 200
        assert not IntegrationEvent.objects.exists()
        assert slack.methods() == []

    def test_a_mention_is_answered_in_its_thread_streamed_with_citations_and_thumbs(
        self, connected, slack, alpha
    ):
        _integration, ws, _assistant = connected
        event = mention(slack, ws, "What is the refund policy?")
        response = post_event(callback(event, ws, event_id="Ev10"))
        assert response.status_code == 200
        assert settled("Ev10").status == "answered"
        [answer] = slack.replies_in("C100", event["ts"])
        assert answer.streamed and answer.stopped
        assert "refund" in answer.text.lower()
        assert "chat.appendStream" in slack.methods()  # progressive, not one post
        assert "assistant.threads.setStatus" in slack.methods()  # "is thinking…" first
        context, actions = answer.blocks
        assert "Refund policy" in context["elements"][0]["text"]
        assert f"{alpha.organization.url}/chat/" in context["elements"][0]["text"]
        assert [e["action_id"] for e in actions["elements"]] == ["feedback_up", "feedback_down"]
        with schema_context(alpha.slug):
            session = ChatSession.objects.get()
            assert session.channel == "slack"
            assert session.created_by_id == alpha.member.pk  # matched by e-mail
            message = Message.objects.get(role="assistant")
            assert message.status == "complete"
            assert message.sources and any(s["cited"] for s in message.sources)
        assert UsageRecord.objects.filter(organization=alpha.organization, channel="slack").exists()

    def test_retries_and_duplicates_are_answered_once(self, connected, slack):
        _integration, ws, _ = connected
        event = mention(slack, ws, "How long does express delivery take?")
        body = callback(event, ws, event_id="Ev20")
        assert post_event(body).status_code == 200
        assert post_event(body, retry=1).status_code == 200
        assert post_event(body, retry=2).status_code == 200
        settled("Ev20")
        assert len(slack.replies_in("C100", event["ts"])) == 1
        assert IntegrationEvent.objects.filter(delivery_id="Ev20").count() == 1

    def test_the_done_when_scenario_a_thread_follow_up_uses_the_first_question(
        self, connected, slack, alpha
    ):
        _integration, ws, _ = connected
        first = mention(slack, ws, "How long until a refund is paid?")
        post_event(callback(first, ws, event_id="Ev30"))
        settled("Ev30")
        # A reply in the thread, without a mention: the bot is part of this thread.
        follow = slack.say(
            ws,
            channel="C100",
            user="UBOB",
            text="and what about the returned item?",
            thread_ts=first["ts"],
        )
        post_event(callback(follow, ws, event_id="Ev31"))
        assert settled("Ev31").status == "answered"
        answers = slack.replies_in("C100", first["ts"])
        assert len(answers) == 2
        second = answers[1]
        assert second.stopped
        with schema_context(alpha.slug):
            session = ChatSession.objects.get()  # one thread, one session
            last = Message.objects.filter(role="assistant").order_by("created_at").last()
            # The follow-up was searched together with the thread's first question.
            assert "refund" in last.retrieval_query.lower()
            assert "returned item" in last.retrieval_query.lower()
            assert session.message_count == 4
            assert session.created_by_id == alpha.member.pk
        assert "30 days" in second.text or "refund" in second.text.lower()
        assert "Refund policy" in second.blocks[0]["elements"][0]["text"]
        # The thumbs work: a click on the second answer's thumbs-down is its feedback.
        down = second.blocks[1]["elements"][1]
        click = {
            "type": "block_actions",
            "team": {"id": ws.team_id},
            "user": {"id": "UBOB", "team_id": ws.team_id},
            "api_app_id": "A0001",
            "channel": {"id": "C100"},
            "message": {"ts": second.ts, "thread_ts": first["ts"]},
            "actions": [
                {
                    "action_id": down["action_id"],
                    "value": down["value"],
                    "type": "button",
                    "block_id": "feedback",
                    "action_ts": "1",
                }
            ],
            "trigger_id": "t1",
            "response_url": slack.base_url + "response",
        }
        raw = ("payload=" + __import__("urllib.parse").parse.quote(json.dumps(click))).encode()
        response = HostClient("localhost").generic(
            "POST", EVENTS, raw, content_type="application/x-www-form-urlencoded", **sign(raw)
        )
        assert response.status_code == 200
        with schema_context(alpha.slug):
            assert Message.objects.get(pk=down["value"]).feedback_rating == -1

    def test_thumbs_from_another_organizations_workspace_change_nothing(
        self, connected, slack, alpha, beta
    ):
        _integration, ws, _ = connected
        event = mention(slack, ws, "What is the refund policy?")
        post_event(callback(event, ws, event_id="Ev35"))
        settled("Ev35")
        [answer] = slack.replies_in("C100", event["ts"])
        up = answer.blocks[1]["elements"][0]
        # Beta's workspace clicks a button carrying alpha's message id.
        other = slack.workspace("T0002", bot_token="xoxb-beta", team_name="Beta Slack")
        install(beta, slack, team_id="T0002")
        click = {
            "type": "block_actions",
            "team": {"id": other.team_id},
            "user": {"id": "UEVE", "team_id": other.team_id},
            "api_app_id": "A0001",
            "channel": {"id": "C900"},
            "message": {"ts": "1.1", "thread_ts": "1.0"},
            "actions": [
                {
                    "action_id": "feedback_up",
                    "value": up["value"],
                    "type": "button",
                    "block_id": "feedback",
                    "action_ts": "1",
                }
            ],
            "trigger_id": "t2",
        }
        raw = ("payload=" + __import__("urllib.parse").parse.quote(json.dumps(click))).encode()
        response = HostClient("localhost").generic(
            "POST", EVENTS, raw, content_type="application/x-www-form-urlencoded", **sign(raw)
        )
        assert response.status_code == 200
        with schema_context(alpha.slug):
            assert Message.objects.get(pk=up["value"]).feedback_rating is None
        assert "chat.postEphemeral" not in slack.methods()

    def test_a_mention_inside_an_existing_thread_reads_the_earlier_messages(
        self, connected, slack, alpha
    ):
        _integration, ws, _ = connected
        root = slack.say(ws, channel="C100", user="UBOB", text="Our customer returned a parcel.")
        slack.say(
            ws,
            channel="C100",
            user="UALICE",
            text="When do they get the money back?",
            thread_ts=root["ts"],
        )
        event = mention(slack, ws, "can you answer that?", thread_ts=root["ts"])
        post_event(callback(event, ws, event_id="Ev40"))
        settled("Ev40")
        with schema_context(alpha.slug):
            texts = list(Message.objects.filter(role="user").values_list("content", flat=True))
        assert any("returned a parcel" in t for t in texts)
        assert any("money back" in t for t in texts)
        assert len(slack.replies_in("C100", root["ts"])) == 1

    def test_no_assistant_mapped_gets_a_clear_reply_and_an_entry(self, connected, slack):
        integration, ws, _ = connected
        integration.config = {}
        integration.save()
        event = mention(slack, ws, "What is the refund policy?")
        post_event(callback(event, ws, event_id="Ev50"))
        settled("Ev50")
        [reply] = slack.replies_in("C100", event["ts"])
        assert "No assistant answers here yet" in reply.text
        integration.refresh_from_db()
        assert "No assistant" in integration.last_error
        assert IntegrationEvent.objects.filter(integration=integration, level="error").exists()

    def test_a_quota_reached_is_said_in_the_thread(self, connected, slack, alpha):
        from billing.models import Plan
        from users.models import Organization

        integration, ws, _ = connected
        Plan.objects.update_or_create(
            code=BOT_PLAN, defaults={"name": "Tiny", "monthly_messages": 0}
        )
        Organization.objects.filter(pk=alpha.organization.pk).update(plan=BOT_PLAN)
        event = mention(slack, ws, "What is the refund policy?")
        post_event(callback(event, ws, event_id="Ev60"))
        settled("Ev60")
        [reply] = slack.replies_in("C100", event["ts"])
        assert "can't answer right now" in reply.text
        integration.refresh_from_db()
        assert integration.last_error
        with schema_context(alpha.slug):
            assert not Message.objects.exists()

    def test_a_channel_mapping_chooses_the_assistant(self, connected, slack, alpha):
        integration, ws, assistant = connected
        integration.config = {"channels": {"C200": str(assistant.id)}}
        integration.save()
        event = mention(slack, ws, "What is the refund policy?", channel="C200")
        post_event(callback(event, ws, event_id="Ev70"))
        settled("Ev70")
        assert slack.replies_in("C200", event["ts"])[0].stopped
        other = mention(slack, ws, "What is the refund policy?", channel="C300")
        post_event(callback(other, ws, event_id="Ev71"))
        settled("Ev71")
        assert "No assistant" in slack.replies_in("C300", other["ts"])[0].text

    def test_messages_outside_the_bots_threads_are_not_answered(self, connected, slack):
        _integration, ws, _ = connected
        chatter = slack.say(ws, channel="C100", user="UBOB", text="lunch?")
        chatter["channel_type"] = "channel"
        post_event(callback(chatter, ws, event_id="Ev80"))
        assert not IntegrationEvent.objects.filter(delivery_id="Ev80").exists()
        assert slack.posted == {}

    def test_a_direct_message_is_answered(self, connected, slack):
        _integration, ws, _ = connected
        dm = slack.say(ws, channel="D100", user="UALICE", text="What is the refund policy?")
        dm["channel_type"] = "im"
        post_event(callback(dm, ws, event_id="Ev90"))
        settled("Ev90")
        [answer] = slack.replies_in("D100", dm["ts"])
        assert "refund" in answer.text.lower()

    def test_the_assistant_panel_gets_suggested_prompts(self, connected, slack):
        _integration, ws, _ = connected
        started = {
            "type": "assistant_thread_started",
            "assistant_thread": {"user_id": "UALICE", "channel_id": "D200", "thread_ts": "1.2"},
            "event_ts": "1.3",
        }
        assert post_event(callback(started, ws, event_id="Ev150")).status_code == 200
        [(_method, args, token)] = [c for c in slack.calls if c[0].endswith("SuggestedPrompts")]
        assert args["channel_id"] == "D200" and len(args["prompts"]) == 3
        assert token == ws.bot_token

    @pytest.mark.parametrize(
        "event",
        [{"type": "app_uninstalled"}, {"type": "tokens_revoked", "tokens": {"bot": ["UBOT"]}}],
        ids=["app_uninstalled", "tokens_revoked"],
    )
    def test_uninstall_removes_routing_and_tokens(self, connected, slack, event):
        integration, ws, _ = connected
        body = {
            "team_id": ws.team_id,
            "api_app_id": "A0001",
            "type": "event_callback",
            "event_id": "Ev99",
            "event_time": 1,
            "event": event,
        }
        assert post_event(body).status_code == 200
        integration.refresh_from_db()
        assert integration.status == IntegrationStatus.DISCONNECTED
        assert integration.token_encrypted == ""
        assert not IntegrationRoute.objects.filter(key=ws.team_id).exists()
        assert not IntegrationThread.objects.filter(integration=integration).exists()
        with schema_context(integration.organization.schema_name):
            assert AuditEvent.objects.filter(action="integration.disconnected").exists()
        event = mention(slack, ws, "still there?")
        post_event(callback(event, ws, event_id="Ev100"))
        assert slack.posted == {}


def ask_command(ws, text: str, *, trigger_id: str, channel="C400", user="UALICE"):
    """``/ask`` as Slack posts a slash command: a signed form to the same Request URL."""
    from urllib.parse import urlencode

    raw = urlencode(
        {
            "token": "unused",
            "team_id": ws.team_id,
            "team_domain": "acme",
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": "alice",
            "command": "/ask",
            "text": text,
            "api_app_id": "A0001",
            "response_url": "http://127.0.0.1:1/unused",
            "trigger_id": trigger_id,
        }
    ).encode()
    return HostClient("localhost").generic(
        "POST", EVENTS, raw, content_type="application/x-www-form-urlencoded", **sign(raw)
    )


def test_the_ask_command_answers_in_a_thread_of_its_own(connected, slack, alpha):
    _integration, ws, _ = connected
    response = ask_command(ws, "What is the refund policy?", trigger_id="trig-1")
    assert response.status_code == 200
    assert settled("command:trig-1").status == "answered"
    [question] = [p for p in slack.posted.values() if p.channel == "C400" and not p.thread_ts]
    assert question.text == "<@UALICE> asked: What is the refund policy?"
    [answer] = slack.replies_in("C400", question.ts)
    assert answer.streamed and answer.stopped
    assert "refund" in answer.text.lower()
    assert [e["action_id"] for e in answer.blocks[1]["elements"]] == [
        "feedback_up",
        "feedback_down",
    ]
    with schema_context(alpha.slug):
        session = ChatSession.objects.get()
        assert session.channel == "slack"
        assert session.created_by_id == alpha.member.pk


def test_an_empty_ask_command_gets_a_hint_and_nothing_is_queued(connected, slack):
    _integration, ws, _ = connected
    response = ask_command(ws, "  ", trigger_id="trig-2")
    assert response.status_code == 200
    assert "Ask a question after /ask" in response.content.decode()
    assert not IntegrationEvent.objects.filter(kind="slash_command").exists()
    assert slack.posted == {}


def test_a_slack_thread_is_read_only_in_the_dashboard(connected, slack, alpha):
    _integration, ws, assistant = connected
    post_event(callback(mention(slack, ws, "What is the refund policy?"), ws, event_id="Ev200"))
    settled("Ev200")
    with schema_context(alpha.slug):
        session = ChatSession.objects.get()
    admin = HostClient(alpha.host, alpha.admin)
    listed = admin.get("/api/v1/chat/sessions").json()["results"]
    assert [s["channel"] for s in listed] == ["slack"]
    response = admin.post(
        "/api/v1/chat",
        {
            "assistant": str(assistant.id),
            "session": str(session.id),
            "message": "more?",
            "stream": False,
        },
        format="json",
    )
    assert response.status_code == 400, response.content
    assert "Slack thread" in json.dumps(response.json())


class TestAPI:
    def test_admins_map_channels_and_disconnect_with_audit(self, connected, alpha, beta):
        integration, _ws, assistant = connected
        admin = HostClient(alpha.host, alpha.admin)
        url = f"/api/v1/integrations/{integration.pk}"
        bad = admin.patch(url, {"channels": [{"channel_id": "C1", "assistant": str(alpha.admin.pk)}]},
                          format="json")  # fmt: skip
        assert bad.status_code == 400
        unknown = "00000000-0000-4000-8000-000000000000"
        refused = admin.patch(url, {"default_assistant": unknown}, format="json")
        assert refused.status_code == 400
        assert refused.json()["error"]["fields"]["assistant"]
        ok = admin.patch(
            url,
            {
                "default_assistant": None,
                "channels": [{"channel_id": "C9", "assistant": str(assistant.id)}],
            },
            format="json",
        )
        assert ok.status_code == 200, ok.content
        assert ok.json()["channels"] == [{"channel_id": "C9", "assistant": str(assistant.id)}]
        assert ok.json()["default_assistant"] is None
        assert "token" not in json.dumps(ok.json()).lower().replace("tokens", "")
        # another organization's admin, on its own host: not found
        assert HostClient(beta.host, beta.admin).get(url).status_code == 404
        assert HostClient(alpha.host, alpha.member).get(url).status_code == 403
        gone = admin.delete(url)
        assert gone.status_code == 200
        assert gone.json()["status"] == "disconnected"
        with schema_context(alpha.slug):
            actions = set(AuditEvent.objects.values_list("action", flat=True))
        assert {
            "integration.connected",
            "integration.updated",
            "integration.disconnected",
        } <= actions
        assert not IntegrationRoute.objects.filter(integration=integration).exists()


def test_a_provider_that_is_down_gets_a_clear_reply_in_the_thread(alpha, slack, provider_server):
    from assistants import services as assistant_services
    from assistants.tests.providers.fake_server import error
    from tests.helpers import GOOD_KEY

    with schema_context(alpha.slug):
        assistant_services.credential_create(
            provider="openai", api_key=GOOD_KEY, base_url=f"{provider_server.url}/v1"
        )
    assistant = make_assistant(alpha, "openai/gpt-4o-mini", with_knowledge=False)
    integration = install(alpha, slack)
    integration.config = {"default_assistant_id": str(assistant.id)}
    integration.save()
    ws = slack.workspaces["T0001"]
    provider_server.enqueue(*[error(503, "overloaded") for _ in range(5)])
    event = mention(slack, ws, "What is the refund policy?")
    post_event(callback(event, ws, event_id="Ev300"))
    settled("Ev300")
    [reply] = slack.replies_in("C100", event["ts"])
    assert "AI provider is not answering" in reply.text
    integration.refresh_from_db()
    assert "AI provider" in integration.last_error
    with schema_context(alpha.slug):
        answer = Message.objects.get(role="assistant")
        assert answer.status == "error"

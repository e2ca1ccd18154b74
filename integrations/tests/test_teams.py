"""The Teams bot end to end: the Agents SDK's JWT validation and connector client against
the local Bot Framework fake, answered by a real Celery worker process running the real
chat turn (rows committed, removed after each test: ``committed`` in conftest.py)."""

import io
import json
import zipfile

import pytest
from django_tenants.utils import schema_context

from billing.models import UsageRecord
from chat.models import ChatSession, Message
from integrations.models import Integration, IntegrationEvent, IntegrationRoute
from integrations.tests.conftest import BOT_PLAN, knowledge_assistant, wait_for
from tests.helpers import HostClient

APP_ID = "0a1b2c3d-0000-4000-8000-00000000b0b1"
TENANT_ID = "7e57e57e-0000-4000-8000-00000000aaaa"
PASSWORD = "bot-client-secret"
THREAD = "19:general@thread.tacv2;messageid=1700000000001"


VALID = object()  # the fake issuer's token for our bot


def post(teams, body: dict, token=VALID):
    if token is VALID:
        token = teams.token_for(app_id=APP_ID, service_url=body["serviceUrl"])
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return HostClient("localhost").generic(
        "POST",
        "/integrations/teams/messages",
        json.dumps(body).encode(),
        content_type="application/json",
        **headers,
    )


def settled(body: dict) -> IntegrationEvent:
    """The stored activity once the worker has answered it (or failed to, out loud)."""
    delivery_id = f"{body['conversation']['id']}:{body['id']}"
    return wait_for(
        lambda: IntegrationEvent.objects.filter(
            delivery_id=delivery_id, status__in=["answered", "failed"]
        ).first(),
        what=f"the worker to answer {delivery_id}",
    )


def connect(org, **overrides) -> Integration:
    payload = {
        "name": "Helper bot",
        "app_id": APP_ID,
        "app_password": PASSWORD,
        "tenant_id": TENANT_ID,
        **overrides,
    }
    response = HostClient(org.host, org.admin).post(
        "/api/v1/integrations/teams", payload, format="json"
    )
    assert response.status_code == 201, response.content
    return Integration.objects.get(pk=response.json()["id"])


@pytest.fixture
def connected(alpha, teams):
    assistant = knowledge_assistant(alpha)
    integration = connect(alpha)
    integration.config = {"default_assistant_id": str(assistant.id)}
    integration.save()
    teams.bots[APP_ID] = PASSWORD
    teams.members["29:alice"] = {"email": alpha.member.email, "name": "Alice"}
    teams.members["29:bob"] = {"email": "bob@elsewhere.test", "name": "Bob"}
    return integration


def ask(teams, text, *, conversation=THREAD, kind="channel", user="29:alice"):
    return teams.activity(
        app_id=APP_ID,
        tenant_id=TENANT_ID,
        text=text,
        conversation_id=conversation,
        kind=kind,
        user=user,
    )


def test_the_done_when_scenario_in_a_teams_channel_thread(connected, teams, alpha):
    first = ask(teams, "<at>Assistant</at> How long until a refund is paid?")
    assert post(teams, first).status_code == 202
    assert settled(first).status == "answered"
    follow = ask(teams, "<at>Assistant</at> and what about the returned item?", user="29:bob")
    assert post(teams, follow).status_code == 202
    assert settled(follow).status == "answered"
    answers = teams.replies_in(THREAD)
    assert len(answers) == 2
    second = answers[1]
    assert "refund" in second.text.lower() or "30 days" in second.text
    assert len(second.versions) >= 2  # posted at its first words, then updated
    [citations] = second.activity["entities"]
    assert citations["citation"][0]["appearance"]["name"] == "Refund policy"
    assert f"{alpha.organization.url}/chat/" in citations["citation"][0]["appearance"]["url"]
    card = second.activity["attachments"][0]["content"]
    down = card["actions"][1]["data"]
    with schema_context(alpha.slug):
        session = ChatSession.objects.get()
        assert session.channel == "teams"
        assert session.message_count == 4
        last = Message.objects.filter(role="assistant").order_by("created_at").last()
        assert "refund" in last.retrieval_query.lower()
        assert "returned item" in last.retrieval_query.lower()
    assert teams.replies_in(THREAD, kind="typing")
    assert UsageRecord.objects.filter(organization=alpha.organization, channel="teams").exists()
    # The card's thumbs-down comes back as a message activity with its data: recorded.
    click = teams.activity(
        app_id=APP_ID, tenant_id=TENANT_ID, text="", conversation_id=THREAD, value=down
    )
    assert post(teams, click).status_code == 200
    with schema_context(alpha.slug):
        assert Message.objects.get(pk=down["message_id"]).feedback_rating == -1


def test_a_personal_chat_keeps_its_history_and_knows_the_member(connected, teams, alpha):
    chat = "a:1personal-chat-id"
    first = ask(teams, "What is the refund policy?", conversation=chat, kind="personal")
    post(teams, first)
    settled(first)
    second = ask(teams, "and for express delivery?", conversation=chat, kind="personal")
    post(teams, second)
    settled(second)
    assert len(teams.replies_in(chat)) == 2
    with schema_context(alpha.slug):
        session = ChatSession.objects.get()
        assert session.created_by_id == alpha.member.pk


def test_a_group_chat_is_one_session_with_its_history(connected, teams, alpha):
    chat = "19:groupchat-1@thread.v2"
    first = ask(teams, "<at>Assistant</at> How long until a refund is paid?", conversation=chat,
                kind="groupChat")  # fmt: skip
    post(teams, first)
    settled(first)
    follow = ask(teams, "<at>Assistant</at> and what about the returned item?",
                 conversation=chat, kind="groupChat", user="29:bob")  # fmt: skip
    post(teams, follow)
    assert settled(follow).status == "answered"
    assert len(teams.replies_in(chat)) == 2
    with schema_context(alpha.slug):
        session = ChatSession.objects.get()
        assert session.channel == "teams" and session.message_count == 4
        last = Message.objects.filter(role="assistant").order_by("created_at").last()
        assert "refund" in last.retrieval_query.lower()


def test_a_token_with_a_bad_signature_or_audience_is_refused_and_nothing_stored(connected, teams):
    from cryptography.hazmat.primitives.asymmetric import rsa

    body = ask(teams, "What is the refund policy?")
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = teams.token_for(app_id=APP_ID, service_url=body["serviceUrl"], key=other_key)
    assert post(teams, body, token=forged).status_code == 401
    wrong_aud = teams.token_for(app_id="someone-else", service_url=body["serviceUrl"])
    assert post(teams, body, token=wrong_aud).status_code == 401
    wrong_issuer = teams.token_for(
        app_id=APP_ID, service_url=body["serviceUrl"], issuer="https://evil.example"
    )
    assert post(teams, body, token=wrong_issuer).status_code == 401
    expired = teams.token_for(app_id=APP_ID, service_url=body["serviceUrl"], expires=-900)
    assert post(teams, body, token=expired).status_code == 401
    other_url = teams.token_for(app_id=APP_ID, service_url="http://127.0.0.1:1/elsewhere/")
    assert post(teams, body, token=other_url).status_code == 401
    assert post(teams, body, token=None).status_code == 401
    assert not IntegrationEvent.objects.exists()
    assert teams.sent == {}


def test_an_unknown_tenant_touches_no_organization(connected, teams):
    body = teams.activity(
        app_id=APP_ID,
        tenant_id="00000000-0000-4000-8000-000000000000",
        text="hi",
        conversation_id="a:x",
        kind="personal",
    )
    assert post(teams, body).status_code == 404
    assert not IntegrationEvent.objects.exists()


def test_a_duplicate_activity_is_answered_once(connected, teams):
    body = ask(teams, "What is the refund policy?", conversation="a:dup", kind="personal")
    assert post(teams, body).status_code == 202
    assert post(teams, body).status_code == 202
    settled(body)
    assert IntegrationEvent.objects.filter(kind__startswith="message").count() == 1
    assert len(teams.replies_in("a:dup")) == 1


def test_no_assistant_gets_a_clear_reply(connected, teams):
    connected.config = {}
    connected.save()
    body = ask(teams, "What is the refund policy?", conversation="a:none", kind="personal")
    post(teams, body)
    settled(body)
    [reply] = teams.replies_in("a:none")
    assert "No assistant answers here yet" in reply.text
    connected.refresh_from_db()
    assert connected.last_error


def test_a_quota_reached_is_said_in_the_conversation(connected, teams, alpha):
    from billing.models import Plan
    from users.models import Organization

    Plan.objects.update_or_create(code=BOT_PLAN, defaults={"name": "Tiny", "monthly_messages": 0})
    Organization.objects.filter(pk=alpha.organization.pk).update(plan=BOT_PLAN)
    body = ask(teams, "What is the refund policy?")
    assert post(teams, body).status_code == 202
    assert settled(body).status == "failed"
    [reply] = teams.replies_in(THREAD)
    assert "can't answer right now" in reply.text
    connected.refresh_from_db()
    assert "can't answer right now" in connected.last_error
    with schema_context(alpha.slug):
        assert not Message.objects.exists()


def test_the_same_bot_cannot_be_claimed_twice_in_one_microsoft_tenant(alpha, beta, teams):
    connect(alpha)
    response = HostClient(beta.host, beta.admin).post(
        "/api/v1/integrations/teams",
        {"app_id": APP_ID, "app_password": "x", "tenant_id": TENANT_ID},
        format="json",
    )
    assert response.status_code == 409
    assert IntegrationRoute.objects.get(provider="teams").organization == alpha.organization
    assert not Integration.objects.filter(organization=beta.organization).exists()


def test_the_teams_app_package_has_the_manifest_and_icons(connected, alpha):
    response = HostClient(alpha.host, alpha.admin).get(
        f"/api/v1/integrations/{connected.pk}/teams-package"
    )
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["id"] == APP_ID
    assert manifest["bots"][0]["botId"] == APP_ID
    assert archive.read("color.png").startswith(b"\x89PNG")
    # Another organization's admin gets 404 for it.
    other = HostClient(alpha.host.replace("alpha", "beta"), None)
    assert other.get(f"/api/v1/integrations/{connected.pk}/teams-package").status_code in (
        401,
        403,
        404,
    )


# -- the reply goes to the address the outbound policy checked (no DNS rebinding) -------


def _rebinding_resolver(first: str, then: str):
    """A DNS that answers ``first`` once, then ``then`` (an attacker's rebinding)."""
    asked = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return [first if len(asked) == 1 else then]

    return resolve, asked


def test_the_reply_connects_to_the_checked_address_and_a_rebound_name_is_refused(teams):
    import asyncio

    from microsoft_agents.activity import Activity

    from core import outbound
    from integrations.teams.connector import connector_client

    teams.tokens.add("app-token-rebinding")
    port = teams.base.rsplit(":", 1)[1]
    # A name the system DNS does not know: only the policy's resolution can reach the fake.
    service_url = f"http://connector.rebinding.test:{port}/teams/"
    resolve, asked = _rebinding_resolver("127.0.0.1", "10.20.30.40")

    async def reply(text: str):
        client = connector_client(service_url=service_url, token="app-token-rebinding")
        try:
            activity = Activity(type="message", text=text)
            return await client.conversations.reply_to_activity("a:rebind", "1", activity)
        finally:
            await client.close()

    with outbound.resolver_override(resolve):
        sent = asyncio.run(reply("first"))
        # The socket went to 127.0.0.1, the address that was checked: the fake got it.
        assert teams.sent[sent.id].activity["text"] == "first"
        assert asked == ["connector.rebinding.test"]  # one resolution, no second lookup
        # The name now resolves to a private address: the next connection is refused
        # before any byte is sent.
        with pytest.raises(outbound.UnreachableAddress):
            asyncio.run(reply("second"))
    assert asked == ["connector.rebinding.test"] * 2
    assert [s.activity["text"] for s in teams.replies_in("a:rebind")] == ["first"]


@pytest.mark.parametrize(
    "service_url",
    ["http://10.1.2.3:80/teams/", "http://169.254.169.254/teams/", "http://[::ffff:10.0.0.1]/x/"],
)
def test_a_literal_private_service_url_is_refused_without_connecting(teams, service_url):
    import asyncio

    from microsoft_agents.activity import Activity

    from core import outbound
    from integrations.teams.connector import connector_client

    async def reply():
        client = connector_client(service_url=service_url, token="t")
        try:
            await client.conversations.reply_to_activity("a:x", "1", Activity(type="message"))
        finally:
            await client.close()

    with pytest.raises(outbound.UnreachableAddress):
        asyncio.run(reply())


def test_an_activity_whose_service_url_resolves_to_a_private_address_is_refused(connected, teams):
    from core import outbound

    body = ask(teams, "What is the refund policy?", conversation="a:private", kind="personal")
    body["serviceUrl"] = "https://smba.private.test/teams/"
    with outbound.resolver_override(lambda host, port: ["10.0.0.7"]):
        response = post(teams, body)
    assert response.status_code == 400
    assert not IntegrationEvent.objects.exists()
    assert teams.sent == {}

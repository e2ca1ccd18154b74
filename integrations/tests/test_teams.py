"""The Teams bot end to end: the Agents SDK's JWT validation and connector client against
the local Bot Framework fake, answers from the real chat turn."""

import io
import json
import zipfile

import pytest
from django_tenants.utils import schema_context

from chat.models import ChatSession, Message
from integrations.models import Integration, IntegrationEvent, IntegrationRoute
from tests.factories import make_assistant
from tests.helpers import HostClient

pytestmark = pytest.mark.usefixtures("answers_inline")

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
def connected(org_a, teams):
    assistant = make_assistant(org_a)
    integration = connect(org_a)
    integration.config = {"default_assistant_id": str(assistant.id)}
    integration.save()
    teams.bots[APP_ID] = PASSWORD
    teams.members["29:alice"] = {"email": org_a.member.email, "name": "Alice"}
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


def test_the_done_when_scenario_in_a_teams_channel_thread(connected, teams, org_a):
    first = ask(teams, "<at>Assistant</at> How long until a refund is paid?")
    assert post(teams, first).status_code == 202
    follow = ask(teams, "<at>Assistant</at> and what about the returned item?", user="29:bob")
    assert post(teams, follow).status_code == 202
    answers = teams.replies_in(THREAD)
    assert len(answers) == 2
    second = answers[1]
    assert "refund" in second.text.lower() or "30 days" in second.text
    assert len(second.versions) >= 2  # posted at its first words, then updated
    [citations] = second.activity["entities"]
    assert citations["citation"][0]["appearance"]["name"] == "Refund policy"
    assert f"{org_a.organization.url}/chat/" in citations["citation"][0]["appearance"]["url"]
    card = second.activity["attachments"][0]["content"]
    down = card["actions"][1]["data"]
    with schema_context(org_a.slug):
        session = ChatSession.objects.get()
        assert session.channel == "teams"
        assert session.message_count == 4
        last = Message.objects.filter(role="assistant").order_by("created_at").last()
        assert "refund" in last.retrieval_query.lower()
        assert "returned item" in last.retrieval_query.lower()
    assert teams.replies_in(THREAD, kind="typing")
    # The card's thumbs-down comes back as a message activity with its data: recorded.
    click = teams.activity(
        app_id=APP_ID, tenant_id=TENANT_ID, text="", conversation_id=THREAD, value=down
    )
    assert post(teams, click).status_code == 200
    with schema_context(org_a.slug):
        assert Message.objects.get(pk=down["message_id"]).feedback_rating == -1


def test_a_personal_chat_keeps_its_history_and_knows_the_member(connected, teams, org_a):
    chat = "a:1personal-chat-id"
    post(teams, ask(teams, "What is the refund policy?", conversation=chat, kind="personal"))
    post(teams, ask(teams, "and for express delivery?", conversation=chat, kind="personal"))
    assert len(teams.replies_in(chat)) == 2
    with schema_context(org_a.slug):
        session = ChatSession.objects.get()
        assert session.created_by_id == org_a.member.pk


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
    assert len(teams.replies_in("a:dup")) == 1


def test_no_assistant_gets_a_clear_reply(connected, teams):
    connected.config = {}
    connected.save()
    post(teams, ask(teams, "What is the refund policy?", conversation="a:none", kind="personal"))
    [reply] = teams.replies_in("a:none")
    assert "No assistant answers here yet" in reply.text
    connected.refresh_from_db()
    assert connected.last_error


def test_the_same_bot_cannot_be_claimed_twice_in_one_microsoft_tenant(org_a, org_b, teams):
    connect(org_a)
    response = HostClient(org_b.host, org_b.admin).post(
        "/api/v1/integrations/teams",
        {"app_id": APP_ID, "app_password": "x", "tenant_id": TENANT_ID},
        format="json",
    )
    assert response.status_code == 409
    assert IntegrationRoute.objects.get(provider="teams").organization == org_a.organization
    assert not Integration.objects.filter(organization=org_b.organization).exists()


def test_the_teams_app_package_has_the_manifest_and_icons(connected, org_a):
    response = HostClient(org_a.host, org_a.admin).get(
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
    other = HostClient(org_a.host.replace("alpha", "beta"), None)
    assert other.get(f"/api/v1/integrations/{connected.pk}/teams-package").status_code in (
        401,
        403,
        404,
    )

"""The organization setting "require two-factor for members" (issue 22, item 5): who may
turn it on, what it audits, and its enforcement on the one authorization path that HTTP
requests and chat socket messages share (core.api.authorization.authorize)."""

import uuid

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django_tenants.utils import schema_context

from audit.models import AuditAction, AuditEvent
from config.asgi import application
from tests.factories import api_key_for
from tests.helpers import assert_error
from users.models import Organization

pytestmark = pytest.mark.django_db


def _require(org, value: bool = True) -> None:
    Organization.objects.filter(pk=org.organization.pk).update(require_two_factor=value)


def _with_totp(user) -> None:
    TOTP.activate(user, generate_totp_secret())


class TestTurningItOn:
    def test_an_admin_without_two_factor_is_told_to_set_up_their_own_first(self, org_a, client_for):
        response = client_for(org_a, "admin").patch(
            "/api/v1/organization", {"require_two_factor": True}
        )
        error = assert_error(response, 400, "invalid")
        assert "your own account first" in error["fields"]["require_two_factor"][0]
        assert not Organization.objects.get(pk=org_a.organization.pk).require_two_factor

    def test_an_admin_with_two_factor_turns_it_on_audited_with_before_and_after(
        self, org_a, client_for
    ):
        # given: the admin has an authenticator; the member and the viewer have none
        _with_totp(org_a.admin)
        admin = client_for(org_a, "admin")
        assert admin.get("/api/v1/organization").json()["members_without_two_factor"] == 2

        # when
        response = admin.patch("/api/v1/organization", {"require_two_factor": True})

        # then
        assert response.status_code == 200, response.content
        assert response.json()["require_two_factor"] is True
        assert Organization.objects.get(pk=org_a.organization.pk).require_two_factor
        with schema_context(org_a.slug):
            event = AuditEvent.objects.get(action=AuditAction.ORGANIZATION_UPDATED)
        assert event.changes == {"require_two_factor": [False, True]}
        assert event.actor_id == org_a.admin.pk and event.target_type == "organization"

    @pytest.mark.parametrize("role", ["member", "viewer"])
    def test_only_admins_change_it(self, org_a, client_for, role):
        response = client_for(org_a, role).patch(
            "/api/v1/organization", {"require_two_factor": True}
        )
        assert_error(response, 403, "permission_denied")

    def test_members_do_not_see_who_lacks_two_factor(self, org_a, client_for):
        body = client_for(org_a, "member").get("/api/v1/organization").json()
        assert body["members_without_two_factor"] is None


class TestEnforcement:
    def test_a_member_without_two_factor_is_refused_with_its_own_code(self, org_a, client_for):
        _require(org_a)
        error = assert_error(
            client_for(org_a, "member").get("/api/v1/assistants"), 403, "two_factor_required"
        )
        assert "Security page" in error["message"]

    def test_me_still_answers_and_says_the_set_up_is_required(self, org_a, client_for):
        _require(org_a)
        member = client_for(org_a, "member")
        body = member.get("/api/v1/me").json()
        assert body["two_factor_setup_required"] is True
        _with_totp(org_a.member)
        assert member.get("/api/v1/me").json()["two_factor_setup_required"] is False
        assert member.get("/api/v1/assistants").status_code == 200

    def test_nothing_changes_while_the_setting_is_off(self, org_a, client_for):
        member = client_for(org_a, "member")
        assert member.get("/api/v1/assistants").status_code == 200
        assert member.get("/api/v1/me").json()["two_factor_setup_required"] is False

    def test_api_keys_are_unaffected(self, org_a, client_for):
        _require(org_a)
        _key, secret = api_key_for(org_a, "assistants:read")
        assert client_for(org_a, api_key=secret).get("/api/v1/assistants").status_code == 200

    def test_another_organization_is_unaffected(self, org_a, org_b, client_for):
        _require(org_a)
        assert client_for(org_b, "member").get("/api/v1/assistants").status_code == 200


def _cookie(org, user) -> str:
    client = Client(HTTP_HOST=org.host)
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def _socket(org, cookie: str) -> WebsocketCommunicator:
    headers = [(b"host", org.host.encode()), (b"cookie", cookie.encode())]
    return WebsocketCommunicator(application, "/ws/v1/chat", headers=headers)


@pytest.mark.usefixtures("keep_test_transaction", "keep_websocket_test_transaction")
class TestOnTheChatSocket:
    def test_a_socket_of_a_member_without_two_factor_is_refused_at_connect(self, org_a):
        _require(org_a)
        cookie = _cookie(org_a, org_a.member)

        async def scenario():
            communicator = _socket(org_a, cookie)
            connected, code = await communicator.connect()
            await communicator.disconnect()
            return connected, code

        connected, code = async_to_sync(scenario)()
        assert not connected and code == 4403

    def test_an_open_socket_meets_the_requirement_at_its_next_message(self, org_a):
        cookie = _cookie(org_a, org_a.member)

        async def scenario():
            communicator = _socket(org_a, cookie)
            connected, _ = await communicator.connect()
            assert connected
            await sync_to_async(_require)(org_a)
            await communicator.send_json_to(
                {"type": "chat", "assistant": str(uuid.uuid4()), "message": "Hello?"}
            )
            event = await communicator.receive_json_from(timeout=10)
            closed = await communicator.receive_output(timeout=10)
            await communicator.disconnect()
            return event, closed

        event, closed = async_to_sync(scenario)()
        assert event["event"] == "error"
        assert event["data"]["code"] == "two_factor_required"
        assert closed["type"] == "websocket.close" and closed["code"] == 4403

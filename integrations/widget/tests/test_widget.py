"""The widget's visitor API: allowed origins only (Origin and Referer), CORS for that
origin only, streamed answers with sources on the ``widget`` channel, the visitor's
token as the only way back to a conversation, limits, and the admin API."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import schema_context
from freezegun import freeze_time

import billing.throttling  # noqa: F401 (see below)
from audit.services import Actor
from billing.models import Plan, UsageRecord
from billing.plans import plan_cache_clear
from chat.models import ChatSession, Message
from files.models import File
from files.selectors import attachment_bytes
from integrations.models import WidgetConfiguration
from integrations.widget import services
from tests.factories import make_assistant
from tests.helpers import assert_error, parse_sse, stream_body
from users.models import Organization

pytestmark = pytest.mark.django_db
# DRF's throttles read the clock through ``SimpleRateThrottle.timer = time.time``, bound
# when the module is imported: imported first inside ``freeze_time`` (a limits test run
# on its own), it binds freezegun's function as a method and every request fails. The
# import above binds the real clock.

SITE = "https://shop.example.test"


@pytest.fixture
def widget(org_a):
    assistant = make_assistant(org_a)
    with schema_context(org_a.slug):
        return services.widget_create(
            organization=org_a.organization,
            actor=Actor(user=org_a.admin),
            name="Shop",
            assistant_id=assistant.pk,
            allowed_domains=["shop.example.test", "*.docs.example.test"],
            suggested_questions=["How do refunds work?"],
        )


def _visitor(client_for, org, origin=SITE, address=None, **headers):
    """A visitor's client; ``address``: its own client address (``REMOTE_ADDR``)."""
    client = client_for(org)
    if origin:
        client.defaults["HTTP_ORIGIN"] = origin
    if address:
        client.defaults["REMOTE_ADDR"] = address
    for name, value in headers.items():
        client.defaults[f"HTTP_{name.upper()}"] = value
    return client


def _ask(client, widget, message, token=""):
    return client.post(
        f"/api/v1/widget/{widget.public_id}/chat",
        {"message": message, "token": token},
        format="json",
    )


def _window_start() -> datetime:
    """The start of a coming rate window, so a test's messages share one window."""
    now = int(time.time()) + 120
    return datetime.fromtimestamp(now - now % 60, tz=UTC)


class TestOrigins:
    def test_an_allowed_origin_gets_the_config_with_cors_for_itself_only(
        self, org_a, widget, client_for
    ):
        response = _visitor(client_for, org_a).get(f"/api/v1/widget/{widget.public_id}/config")

        assert response.status_code == 200, response.content
        assert response["Access-Control-Allow-Origin"] == SITE
        assert response.json()["suggested_questions"] == ["How do refunds work?"]
        assert "Set-Cookie" not in response
        # subdomains by wildcard
        sub = _visitor(client_for, org_a, "https://eu.docs.example.test").get(
            f"/api/v1/widget/{widget.public_id}/config"
        )
        assert sub.status_code == 200

    @pytest.mark.parametrize(
        "headers",
        [
            {"origin": "https://evil.example.test"},
            {"origin": "https://shop.example.test.evil.test"},
            {"origin": "null"},
            {"origin": None},  # neither Origin nor Referer
            {"origin": None, "referer": "https://evil.example.test/page"},
            # a forged Origin: the Referer still names the real page
            {"origin": SITE, "referer": "https://evil.example.test/page"},
        ],
    )
    def test_other_origins_get_nothing(self, org_a, widget, client_for, headers):
        client = _visitor(
            client_for,
            org_a,
            headers["origin"],
            **({"referer": headers["referer"]} if "referer" in headers else {}),
        )

        config = client.get(f"/api/v1/widget/{widget.public_id}/config")
        chat = _ask(client, widget, "How do refunds work?")

        assert_error(config, 403, "origin_refused")
        assert_error(chat, 403, "origin_refused")
        assert "Access-Control-Allow-Origin" not in config
        with schema_context(org_a.slug):
            assert not ChatSession.objects.exists()

    def test_a_preflight_is_answered_for_an_allowed_origin_only(self, org_a, widget, client_for):
        path = f"/api/v1/widget/{widget.public_id}/chat"
        allowed = _visitor(client_for, org_a).options(path)
        refused = _visitor(client_for, org_a, "https://evil.example.test").options(path)

        assert allowed.status_code == 204
        assert allowed["Access-Control-Allow-Origin"] == SITE
        assert "X-Widget-Token" in allowed["Access-Control-Allow-Headers"]
        assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused

    def test_another_organizations_host_does_not_know_the_widget(
        self, org_a, org_b, widget, client_for
    ):
        response = _visitor(client_for, org_b).get(f"/api/v1/widget/{widget.public_id}/config")
        assert_error(response, 404)

    def test_an_inactive_widget_answers_404(self, org_a, widget, client_for):
        WidgetConfiguration.objects.filter(pk=widget.pk).update(is_active=False)
        response = _visitor(client_for, org_a).get(f"/api/v1/widget/{widget.public_id}/config")
        assert_error(response, 404)


class TestChat:
    def test_a_visitor_gets_a_streamed_answer_with_sources_on_the_widget_channel(
        self, org_a, widget, client_for
    ):
        client = _visitor(client_for, org_a)

        response = _ask(client, widget, "How long does a refund take?")

        assert response.status_code == 200, response.content[:300]
        assert response["Access-Control-Allow-Origin"] == SITE
        events = parse_sse(stream_body(response))
        names = [name for name, _ in events]
        assert names[0] == "session" and names[-1] == "done" and "delta" in names
        text = "".join(data["text"] for name, data in events if name == "delta")
        assert "five business days" in text
        [sources] = [data["sources"] for name, data in events if name == "sources"]
        assert sources[0]["document_title"] == "Refund policy"
        with schema_context(org_a.slug):
            session = ChatSession.objects.get()
            assert session.channel == "widget" and session.api_key_id == widget.pk
            assert session.created_by_id is None
            assert session.external_user_id.startswith(f"widget:{widget.pk}:")
        # the answer's cost is on the widget channel (the query's embedding is recorded
        # by knowledge_base.retrieval, which does not know the channel yet)
        answers = UsageRecord.objects.filter(organization=org_a.organization, kind="chat")
        assert set(answers.values_list("channel", flat=True)) == {"widget"}

    def test_the_token_continues_the_visitors_conversation_and_only_theirs(
        self, org_a, widget, client_for
    ):
        client = _visitor(client_for, org_a)
        first = _ask(client, widget, "How long does a refund take?")
        stream_body(first)
        token = first["X-Widget-Token"]

        second = _ask(client, widget, "And shipping?", token=token)
        stream_body(second)
        stranger = _ask(client, widget, "Hello", token=token[:-3] + "abc")  # tampered
        stream_body(stranger)

        with schema_context(org_a.slug):
            sessions = list(ChatSession.objects.order_by("created_at"))
            assert len(sessions) == 2
            assert Message.objects.filter(session=sessions[0]).count() == 4
        history = client.get(
            f"/api/v1/widget/{widget.public_id}/messages", HTTP_X_WIDGET_TOKEN=token
        ).json()["messages"]
        assert [m["role"] for m in history] == ["user", "assistant", "user", "assistant"]

    def test_a_token_of_another_widget_reaches_nothing(self, org_a, widget, client_for):
        client = _visitor(client_for, org_a)
        first = _ask(client, widget, "How long does a refund take?")
        stream_body(first)
        with schema_context(org_a.slug):
            other = services.widget_create(
                organization=org_a.organization,
                actor=Actor(user=org_a.admin),
                name="Other",
                assistant_id=widget.assistant_id,
                allowed_domains=["shop.example.test"],
            )

        history = client.get(
            f"/api/v1/widget/{other.public_id}/messages",
            HTTP_X_WIDGET_TOKEN=first["X-Widget-Token"],
        )
        assert history.json() == {"messages": []}

    def test_feedback_on_the_visitors_answer(self, org_a, widget, client_for):
        client = _visitor(client_for, org_a)
        response = _ask(client, widget, "How long does a refund take?")
        events = parse_sse(stream_body(response))
        [done] = [data for name, data in events if name == "done"]

        rated = client.post(
            f"/api/v1/widget/{widget.public_id}/feedback",
            {"message_id": done["message_id"], "rating": 1, "token": response["X-Widget-Token"]},
            format="json",
        )
        forged = client.post(
            f"/api/v1/widget/{widget.public_id}/feedback",
            {"message_id": done["message_id"], "rating": -1, "token": "nope"},
            format="json",
        )

        assert rated.status_code == 200
        assert_error(forged, 404)
        with schema_context(org_a.slug):
            assert Message.objects.get(pk=done["message_id"]).feedback_rating == 1


class TestOtherOrganizations:
    """The generated isolation suite walks the visitor endpoints as outsiders without an
    allowed Origin; here the outsider has everything of A's visitor: the allowed
    Origin, A's widget id and A's visitor token, on B's host."""

    def _a_visitor_with_a_conversation(self, org_a, widget, client_for) -> str:
        first = _ask(_visitor(client_for, org_a), widget, "How long does a refund take?")
        stream_body(first)
        return first["X-Widget-Token"]

    def test_alphas_widget_id_origin_and_token_on_betas_host_get_nothing(
        self, org_a, org_b, widget, client_for
    ):
        token = self._a_visitor_with_a_conversation(org_a, widget, client_for)
        with schema_context(org_a.slug):
            [session] = ChatSession.objects.all()
            [answer] = Message.objects.filter(session=session, role="assistant")
        on_b = _visitor(client_for, org_b, x_widget_token=token)
        base = f"/api/v1/widget/{widget.public_id}"

        answers = [
            on_b.get(f"{base}/config"),
            on_b.get(f"{base}/messages"),
            _ask(on_b, widget, "And shipping?", token=token),
            on_b.post(
                f"{base}/feedback",
                {"message_id": str(answer.pk), "rating": -1, "token": token},
                format="json",
            ),
        ]

        for response in answers:
            assert_error(response, 404)
            assert "Access-Control-Allow-Origin" not in response
            assert "refund" not in response.content.decode().lower()
        with schema_context(org_b.slug):
            assert not ChatSession.objects.exists()
        with schema_context(org_a.slug):
            assert Message.objects.filter(session=session).count() == 2
            answer.refresh_from_db()
            assert answer.feedback_rating is None

    def test_alphas_token_on_betas_own_widget_continues_nothing_of_alphas(
        self, org_a, org_b, widget, client_for
    ):
        token = self._a_visitor_with_a_conversation(org_a, widget, client_for)
        assistant_b = make_assistant(org_b)
        with schema_context(org_b.slug):
            widget_b = services.widget_create(
                organization=org_b.organization,
                actor=Actor(user=org_b.admin),
                name="B shop",
                assistant_id=assistant_b.pk,
                allowed_domains=["shop.example.test"],
            )
        on_b = _visitor(client_for, org_b)

        history = on_b.get(
            f"/api/v1/widget/{widget_b.public_id}/messages", HTTP_X_WIDGET_TOKEN=token
        )
        asked = _ask(on_b, widget_b, "Hello", token=token)

        assert history.status_code == 200 and history.json() == {"messages": []}
        assert asked.status_code == 200, asked.content[:200]
        stream_body(asked)
        with schema_context(org_b.slug):  # a new conversation of B's, not A's continued
            [session_b] = ChatSession.objects.all()
            assert Message.objects.filter(session=session_b).count() == 2
            assert session_b.api_key_id == widget_b.pk
        with schema_context(org_a.slug):
            assert Message.objects.count() == 2


class TestLimits:
    def test_a_long_message_is_refused(self, org_a, widget, client_for):
        response = _ask(_visitor(client_for, org_a), widget, "x" * (widget.max_message_chars + 1))
        assert "message" in assert_error(response, 400)["fields"]

    def test_per_address_rate_limit(self, org_a, widget, client_for):
        WidgetConfiguration.objects.filter(pk=widget.pk).update(messages_per_minute_per_address=2)
        client = _visitor(client_for, org_a)

        with freeze_time(_window_start(), tick=True):
            for _ in range(2):
                stream_body(_ask(client, widget, "How long does a refund take?"))
            refused = _ask(client, widget, "How long does a refund take?")

        error = assert_error(refused, 429, "rate_limited")
        assert "address" in error["message"]
        assert refused["Retry-After"]

    def test_per_widget_rate_limit(self, org_a, widget, client_for):
        WidgetConfiguration.objects.filter(pk=widget.pk).update(messages_per_minute=1)

        with freeze_time(_window_start(), tick=True):
            stream_body(_ask(_visitor(client_for, org_a), widget, "Refunds?"))
            refused = _ask(_visitor(client_for, org_a, address="10.9.8.7"), widget, "Refunds?")

        assert "busy" in assert_error(refused, 429, "rate_limited")["message"]

    def test_a_visitor_refused_for_sending_too_fast_does_not_use_up_the_widget(
        self, org_a, widget, client_for
    ):
        WidgetConfiguration.objects.filter(pk=widget.pk).update(
            messages_per_minute=2, messages_per_minute_per_address=1
        )
        hasty = _visitor(client_for, org_a)

        with freeze_time(_window_start(), tick=True):
            stream_body(_ask(hasty, widget, "Refunds?"))
            for _ in range(3):
                assert_error(_ask(hasty, widget, "Refunds?"), 429, "rate_limited")
            other = _ask(_visitor(client_for, org_a, address="10.9.8.7"), widget, "Refunds?")
            third = _ask(_visitor(client_for, org_a, address="10.9.8.8"), widget, "Refunds?")

        assert other.status_code == 200, other.content[:300]
        stream_body(other)
        assert "busy" in assert_error(third, 429, "rate_limited")["message"]

    def test_a_long_conversation_is_closed(self, org_a, widget, client_for):
        WidgetConfiguration.objects.filter(pk=widget.pk).update(max_conversation_messages=2)
        client = _visitor(client_for, org_a)
        first = _ask(client, widget, "Refunds?")
        stream_body(first)

        response = _ask(client, widget, "More?", token=first["X-Widget-Token"])

        assert_error(response, 409, "conversation_too_long")


WARRANTY = (
    b"Warranty card.\n\nThe Globex toaster carries a warranty of seven years from purchase.\n"
)


def _upload(client, widget, name="warranty.txt", data=WARRANTY, token=""):
    return client.post(
        f"/api/v1/widget/{widget.public_id}/files",
        {"file": SimpleUploadedFile(name, data), "token": token},
        format="multipart",
    )


def _ask_with(client, widget, message, token, attachments):
    return client.post(
        f"/api/v1/widget/{widget.public_id}/chat",
        {"message": message, "token": token, "attachments": attachments},
        format="json",
    )


class TestFiles:
    """A visitor's files (``file_upload_enabled``): the chat composer's upload and
    attachment path, owned by the visitor's token alone."""

    @pytest.fixture
    def taking_files(self, widget):
        WidgetConfiguration.objects.filter(pk=widget.pk).update(file_upload_enabled=True)
        widget.refresh_from_db()
        return widget

    def test_a_visitor_attaches_a_file_and_the_answer_cites_it(
        self, org_a, taking_files, client_for
    ):
        widget, client = taking_files, _visitor(client_for, org_a)
        config = client.get(f"/api/v1/widget/{widget.public_id}/config").json()

        uploaded = _upload(client, widget)

        assert config["file_upload_enabled"] is True
        assert uploaded.status_code == 201, uploaded.content
        assert uploaded["Access-Control-Allow-Origin"] == SITE
        body = uploaded.json()
        assert body["name"] == "warranty.txt" and body["token"] == uploaded["X-Widget-Token"]
        answer = _ask_with(
            client, widget, "How long is the toaster warranty?", body["token"], [body["id"]]
        )
        assert answer.status_code == 200, answer.content[:300]
        events = parse_sse(stream_body(answer))
        text = "".join(data["text"] for name, data in events if name == "delta")
        [sources] = [data["sources"] for name, data in events if name == "sources"]
        assert "seven years" in text
        assert sources[0]["file_id"] == body["id"]
        assert sources[0]["document_title"] == "warranty.txt"
        with schema_context(org_a.slug):
            [question] = Message.objects.filter(role="user")
            assert [str(f.pk) for f in question.attachments.all()] == [body["id"]]
            assert File.objects.get(pk=body["id"]).uploaded_by_id is None
        # the storage is the organization's: its usage counts the file
        with schema_context(org_a.slug):
            assert attachment_bytes() == len(WARRANTY)
        # after a reload, the visitor's history names the file on the question
        history = client.get(
            f"/api/v1/widget/{widget.public_id}/messages",
            HTTP_X_WIDGET_TOKEN=answer["X-Widget-Token"],
        ).json()["messages"]
        assert history[0]["attachments"] == [{"id": body["id"], "name": "warranty.txt"}]
        assert history[1]["attachments"] == []

    def test_when_the_widget_takes_no_files_uploading_and_attaching_are_refused(
        self, org_a, widget, client_for
    ):
        client = _visitor(client_for, org_a)
        config = client.get(f"/api/v1/widget/{widget.public_id}/config").json()

        uploaded = _upload(client, widget)
        asked = _ask_with(client, widget, "Warranty?", "", [str(uuid.uuid4())])

        assert config["file_upload_enabled"] is False
        assert_error(uploaded, 403, "file_upload_disabled")
        assert_error(asked, 403, "file_upload_disabled")
        with schema_context(org_a.slug):
            assert not File.objects.exists() and not ChatSession.objects.exists()

    def test_another_visitors_file_and_the_organizations_files_are_refused(
        self, org_a, taking_files, client_for
    ):
        widget = taking_files
        owner = _upload(_visitor(client_for, org_a), widget).json()
        member_file = client_for(org_a, "member").post(
            "/api/v1/files",
            {"files": [SimpleUploadedFile("internal.txt", b"ALPHA-INTERNAL salary bands.")]},
            format="multipart",
        )
        assert member_file.status_code == 201, member_file.content
        member_file_id = member_file.json()["results"][0]["id"]
        stranger = _visitor(client_for, org_a, REMOTE_ADDR="10.1.2.3")
        strangers_token = _upload(stranger, widget, name="mine.txt", data=b"Mine.").json()["token"]

        answers = [
            _ask_with(stranger, widget, "Warranty?", strangers_token, [owner["id"]]),
            _ask_with(stranger, widget, "Warranty?", "", [owner["id"]]),
            _ask_with(stranger, widget, "Salaries?", strangers_token, [member_file_id]),
        ]

        for response in answers:
            error = assert_error(response, 400, "invalid_attachment")
            assert "attachments" in error["fields"]
            assert (
                b"seven years" not in response.content and b"ALPHA-INTERNAL" not in response.content
            )
        with schema_context(org_a.slug):
            assert not ChatSession.objects.exists()

    def test_a_disallowed_origin_cannot_upload(self, org_a, taking_files, client_for):
        refused = _upload(_visitor(client_for, org_a, "https://evil.example.test"), taking_files)

        assert_error(refused, 403, "origin_refused")
        assert "Access-Control-Allow-Origin" not in refused
        with schema_context(org_a.slug):
            assert not File.objects.exists()

    def test_the_files_count_against_the_organizations_storage(
        self, org_a, taking_files, client_for
    ):
        plan = Plan.objects.create(
            code=f"t-{uuid.uuid4().hex[:8]}", name="Tight", max_storage_bytes=1
        )
        Organization.objects.filter(pk=org_a.organization.pk).update(plan=plan.code)
        plan_cache_clear()
        try:
            refused = _upload(_visitor(client_for, org_a), taking_files)
        finally:
            plan_cache_clear()

        assert "bytes of storage" in assert_error(refused, 402, "quota_exceeded")["message"]
        with schema_context(org_a.slug):
            assert not File.objects.exists()

    def test_the_chats_type_checks_and_the_per_address_limit_apply(
        self, org_a, taking_files, client_for
    ):
        widget = taking_files
        WidgetConfiguration.objects.filter(pk=widget.pk).update(messages_per_minute_per_address=2)
        client = _visitor(client_for, org_a)

        with freeze_time(_window_start(), tick=True):
            unsupported = _upload(client, widget, name="tool.exe", data=b"MZ\x90\x00" + bytes(200))
            accepted = _upload(client, widget)
            limited = _upload(client, widget)

        assert_error(unsupported, 415)
        assert accepted.status_code == 201
        assert "files" in assert_error(limited, 429, "rate_limited")["message"]


class TestScript:
    def test_the_loader_is_served_to_any_site(self, org_a, client_for):
        response = client_for(org_a).get("/widget.js")

        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/javascript")
        assert response["Cross-Origin-Resource-Policy"] == "cross-origin"
        assert b"attachShadow" in response.content


class TestAdminAPI:
    def test_admin_creates_a_widget_and_gets_its_snippet(self, org_a, client_for):
        assistant = make_assistant(org_a, with_knowledge=False)
        admin = client_for(org_a, "admin")

        created = admin.post(
            "/api/v1/widgets",
            {
                "name": "Help",
                "assistant": str(assistant.pk),
                "allowed_domains": ["https://Shop.Example.test/path", "localhost:8123"],
                "primary_color": "#112233",
            },
            format="json",
        )

        assert created.status_code == 201, created.content
        body = created.json()
        assert body["allowed_domains"] == ["localhost:8123", "shop.example.test"]
        assert f'data-widget="{body["public_id"]}"' in body["snippet"]
        assert body["snippet"].startswith(f'<script src="{org_a.organization.url}/widget.js"')

    def test_bad_input_gets_field_errors(self, org_a, client_for):
        admin = client_for(org_a, "admin")
        response = admin.post(
            "/api/v1/widgets",
            {
                "name": "Help",
                "assistant": "00000000-0000-0000-0000-000000000000",
                "primary_color": "red",
                "allowed_domains": ["not a domain!"],
            },
            format="json",
        )
        fields = assert_error(response, 400)["fields"]
        assert {"assistant", "primary_color", "allowed_domains"} <= set(fields)
        assert not WidgetConfiguration.objects.filter(organization=org_a.organization).exists()

    def test_widget_conversations_are_listed_for_admins(self, org_a, widget, client_for):
        stream_body(_ask(_visitor(client_for, org_a), widget, "Refunds?"))
        admin = client_for(org_a, "admin")

        sessions = admin.get(f"/api/v1/widgets/{widget.pk}/sessions").json()
        listed = admin.get("/api/v1/widgets").json()["results"][0]

        assert sessions["count"] == 1
        assert listed["conversations"] == 1 and listed["messages"] == 2
        assert_error(client_for(org_a, "member").get(f"/api/v1/widgets/{widget.pk}/sessions"), 403)

    def test_members_may_not_change_widgets_and_other_organizations_get_404(
        self, org_a, org_b, widget, client_for
    ):
        member = client_for(org_a, "member")
        assert_error(
            member.patch(f"/api/v1/widgets/{widget.pk}", {"title": "x"}, format="json"), 403
        )
        other = client_for(org_b, "admin")
        assert_error(other.get(f"/api/v1/widgets/{widget.pk}"), 404)
        assert_error(other.get(f"/api/v1/widgets/{widget.pk}/sessions"), 404)
        assert other.get("/api/v1/widgets").json()["results"] == []

"""Assistants API: roles, validation, test replies through the real SDKs."""

from decimal import Decimal

import pytest
from django_tenants.utils import schema_context

from assistants.models import Assistant
from assistants.tests.providers.fake_server import Reply, error
from billing.models import UsageRecord
from tests.factories import catalog_model
from tests.helpers import assert_error


def _create(client, **overrides):
    payload = {"name": "Support", "model": "local/extractive", **overrides}
    return client.post("/api/v1/assistants", payload, format="json")


@pytest.fixture
def assistant(org_a, client_for):
    response = _create(client_for(org_a, "member"))
    assert response.status_code == 201, response.json()
    return response.json()


@pytest.mark.django_db
class TestCrud:
    def test_member_creates_and_everyone_reads(self, org_a, client_for, assistant):
        assert assistant["model"]["id"] == "local/extractive"
        assert assistant["answer_mode"] == "extractive"
        listed = client_for(org_a, "viewer").get("/api/v1/assistants").json()
        assert [a["id"] for a in listed["results"]] == [assistant["id"]]

    def test_viewer_cannot_create_change_or_delete(self, org_a, client_for, assistant):
        viewer = client_for(org_a, "viewer")
        assert_error(_create(viewer), 403)
        assert_error(viewer.patch(f"/api/v1/assistants/{assistant['id']}", {"name": "x"}), 403)
        assert_error(viewer.delete(f"/api/v1/assistants/{assistant['id']}"), 403)
        with schema_context(org_a.slug):
            assert Assistant.objects.get().name == "Support"

    def test_update_and_delete(self, org_a, client_for, assistant):
        member = client_for(org_a, "member")
        url = f"/api/v1/assistants/{assistant['id']}"
        changed = member.patch(
            url, {"temperature": "0.9", "model": "openai/gpt-4o-mini"}, format="json"
        )
        assert changed.status_code == 200, changed.json()
        assert changed.json()["temperature"] == "0.90"
        assert changed.json()["answer_mode"] == "llm"
        assert member.delete(url).status_code == 204
        assert_error(member.get(url), 404)

    def test_another_organizations_assistant_is_404(self, org_a, org_b, client_for, assistant):
        other = client_for(org_b, "admin")
        assert_error(other.get(f"/api/v1/assistants/{assistant['id']}"), 404)
        assert_error(other.delete(f"/api/v1/assistants/{assistant['id']}"), 404)

    def test_list_is_bounded_in_queries(self, org_a, client_for, django_assert_max_num_queries):
        member = client_for(org_a, "member")
        for i in range(5):
            _create(member, name=f"A{i}", fallback_model="openai/gpt-4o-mini")
        # session, user, membership, count, page, collections prefetch: constant in the rows
        with django_assert_max_num_queries(10):
            assert member.get("/api/v1/assistants").json()["count"] == 5


@pytest.mark.django_db
class TestValidation:
    def test_unknown_model_names_the_valid_choices(self, org_a, client_for):
        error_ = assert_error(
            _create(client_for(org_a, "member"), model="openai/gpt-9"), 400, "invalid"
        )
        message = error_["fields"]["model"][0]
        assert (
            "gpt-9" in message and "openai/gpt-4o-mini" in message and "local/extractive" in message
        )

    def test_model_without_chat_capability_is_refused(self, org_a, client_for):
        response = _create(client_for(org_a, "member"), model="openai/text-embedding-3-small")
        assert "model" in assert_error(response, 400)["fields"]

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("temperature", "2.5"),
            ("temperature", "-0.1"),
            ("top_p", "1.5"),
            ("max_output_tokens", 0),
            ("retrieval_top_k", 51),
            ("retrieval_mode", "magic"),
            ("name", ""),
        ],
    )
    def test_out_of_range_values_are_field_errors(self, org_a, client_for, field, value):
        response = _create(client_for(org_a, "member"), **{field: value})
        assert field in assert_error(response, 400, "invalid")["fields"]
        with schema_context(org_a.slug):
            assert not Assistant.objects.exists()

    def test_max_output_tokens_above_the_models_limit(self, org_a, client_for):
        response = _create(
            client_for(org_a, "member"), model="openai/gpt-4o-mini", max_output_tokens=20000
        )
        assert "16384" in assert_error(response, 400)["fields"]["max_output_tokens"][0]

    def test_fallback_must_differ_from_the_model(self, org_a, client_for):
        response = _create(client_for(org_a, "member"), fallback_model="local/extractive")
        assert "fallback_model" in assert_error(response, 400)["fields"]


@pytest.mark.django_db
class TestTestReply:
    def test_offline_extractive_reply_is_labelled_and_free(self, org_a, client_for, assistant):
        response = client_for(org_a, "member").post(
            f"/api/v1/assistants/{assistant['id']}/test", {"message": "What is the refund policy?"}
        )
        assert response.status_code == 200, response.json()
        body = response.json()
        assert body["answer_mode"] == "extractive"
        assert body["reply"].startswith("Extractive answer")
        assert "nothing relevant" in body["reply"]
        assert Decimal(body["cost"]) == 0 and body["usage"]["prompt_tokens"] > 0
        record = UsageRecord.objects.get(organization=org_a.organization)
        assert (record.provider, record.model_id, record.cost) == ("local", "extractive", 0)

    def test_openai_reply_goes_through_the_sdk_and_is_priced_from_the_catalog(
        self, org_a, client_for, provider_server, openai_credential
    ):
        # given
        member = client_for(org_a, "member")
        created = _create(
            member,
            model="openai/gpt-4o-mini",
            system_instructions="Be brief.",
            temperature="0.20",
            max_output_tokens=100,
        ).json()
        provider_server.enqueue(Reply(text="Refunds take 5 days.", usage=(1200, 300)))

        # when
        body = member.post(
            f"/api/v1/assistants/{created['id']}/test", {"message": "Refunds?"}
        ).json()

        # then: the request the SDK sent, the answer, and the money
        sent = provider_server.last.body
        assert sent["model"] == "gpt-4o-mini" and sent["temperature"] == 0.2
        # The chat turn's system prompt: the instructions, then the sources (none match).
        assert sent["messages"][0]["role"] == "system"
        assert sent["messages"][0]["content"].startswith("Be brief.")
        assert body["reply"] == "Refunds take 5 days." and body["model"] == "openai/gpt-4o-mini"
        assert body["usage"] == {
            "prompt_tokens": 1200,
            "completion_tokens": 300,
            "total_tokens": 1500,
            "estimated": False,
        }
        expected = (
            Decimal("1200") * Decimal("0.15") / 10**6 + Decimal("300") * Decimal("0.60") / 10**6
        )
        assert Decimal(body["cost"]) == expected
        record = UsageRecord.objects.get(organization=org_a.organization)
        assert record.cost == expected and record.user == org_a.member
        assert str(record.assistant_id) == created["id"]

    def test_bad_provider_key_is_a_clear_400_not_a_500(self, org_a, client_for, provider_server):
        member = client_for(org_a, "admin")
        member.post(
            "/api/v1/credentials",
            {
                "provider": "openai",
                "api_key": "sk-wrong-key-0000",
                "base_url": f"{provider_server.url}/v1",
            },
        )
        created = _create(member, model="openai/gpt-4o-mini").json()
        response = member.post(f"/api/v1/assistants/{created['id']}/test", {"message": "hi"})
        error_ = assert_error(response, 400, "provider_authentication_failed")
        assert "sk-wrong-key-0000" not in response.content.decode()
        assert error_["message"]
        assert not UsageRecord.objects.filter(organization=org_a.organization).exists()

    def test_missing_credential_is_a_clear_400(self, org_a, client_for, provider_server):
        member = client_for(org_a, "member")
        created = _create(member, model="anthropic/claude-haiku-4-5").json()
        response = member.post(f"/api/v1/assistants/{created['id']}/test", {"message": "hi"})
        assert (
            "credential" in assert_error(response, 400, "provider_authentication_failed")["message"]
        )

    def test_fallback_model_answers_when_the_primary_is_down(
        self, org_a, client_for, provider_server, openai_credential
    ):
        member = client_for(org_a, "member")
        created = _create(
            member, model="openai/gpt-4o-mini", fallback_model="local/extractive"
        ).json()
        provider_server.enqueue(error(503))
        body = member.post(f"/api/v1/assistants/{created['id']}/test", {"message": "hi"}).json()
        assert body["fell_back"] is True and body["model"] == "local/extractive"
        record = UsageRecord.objects.get(organization=org_a.organization)
        assert record.model_id == "extractive"

    def test_provider_rate_limit_reaches_the_caller_as_429_with_retry_after(
        self, org_a, client_for, provider_server, openai_credential
    ):
        member = client_for(org_a, "member")
        created = _create(member, model="openai/gpt-4o-mini").json()
        provider_server.enqueue(error(429, retry_after="7"))
        response = member.post(f"/api/v1/assistants/{created['id']}/test", {"message": "hi"})
        assert_error(response, 429, "provider_rate_limited")
        assert response["Retry-After"] == "7"

    def test_empty_message_is_a_field_error(self, org_a, client_for, assistant):
        response = client_for(org_a, "member").post(
            f"/api/v1/assistants/{assistant['id']}/test", {"message": "  "}
        )
        assert "message" in assert_error(response, 400)["fields"]

    def test_viewer_cannot_test(self, org_a, client_for, assistant):
        assert_error(
            client_for(org_a, "viewer").post(
                f"/api/v1/assistants/{assistant['id']}/test", {"message": "x"}
            ),
            403,
        )


@pytest.mark.django_db
def test_default_assistants_are_created_once(org_a):
    from assistants.services import assistants_create_defaults

    with schema_context(org_a.slug):
        created = assistants_create_defaults()
        assert [a.name for a in created] == ["Help Center"]  # no provider keys configured
        assert created[0].model == catalog_model("local/extractive")
        assert assistants_create_defaults() == []

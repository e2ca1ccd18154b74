"""An assistant's instructions from a pinned prompt template version."""

from decimal import Decimal

import pytest
from django_tenants.utils import schema_context

from assistants import services as assistant_services
from assistants.tests.providers.fake_server import Reply
from chat.models import Message
from prompts import services as prompt_services
from tests.helpers import GOOD_KEY, assert_error


@pytest.fixture
def version(org_a):
    with schema_context(org_a.slug):
        template = prompt_services.template_create(
            user=org_a.admin,
            name="Support persona",
            body="You are {{ company }}'s support agent. Answer in {{ language }}.",
            variables=[
                {"name": "company"},
                {"name": "language", "type": "choice", "choices": ["English", "French"]},
            ],
        )
        return template.published_version


@pytest.mark.django_db
def test_pinned_version_renders_the_instructions_and_a_new_version_changes_nothing(
    org_a, client_for, version
):
    member = client_for(org_a, "member")
    created = member.post(
        "/api/v1/assistants",
        {
            "name": "Support",
            "model": "local/extractive",
            "instructions_version": str(version.pk),
            "instructions_values": {"company": "Acme", "language": "French"},
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert (
        created.json()["system_instructions"] == "You are Acme's support agent. Answer in French."
    )
    with schema_context(org_a.slug):
        prompt_services.version_create(
            template=version.template,
            user=org_a.admin,
            body="Changed {{ company }}",
            variables=[{"name": "company"}],
            publish=True,
        )
    again = member.get(f"/api/v1/assistants/{created.json()['id']}").json()
    assert again["system_instructions"].startswith("You are Acme's")  # pinned, not "latest"


@pytest.mark.django_db
def test_bad_values_are_field_errors_and_store_nothing(org_a, client_for, version):
    member = client_for(org_a, "member")
    error = assert_error(
        member.post(
            "/api/v1/assistants",
            {
                "name": "Support",
                "model": "local/extractive",
                "instructions_version": str(version.pk),
                "instructions_values": {"company": "Acme", "language": "German"},
            },
            format="json",
        ),
        400,
    )
    assert "instructions_values.language" in error["fields"]
    assert member.get("/api/v1/assistants").json()["count"] == 0


@pytest.mark.django_db
def test_each_answer_of_a_pinned_assistant_is_a_use_with_its_tokens_and_cost(
    org_a, client_for, version, provider_server
):
    """The template's usage counts what the assistant's answers cost (issue 14, item 3)."""
    with schema_context(org_a.slug):
        assistant_services.credential_create(
            provider="openai", api_key=GOOD_KEY, base_url=f"{provider_server.url}/v1"
        )
    member = client_for(org_a, "member")
    assistant = member.post(
        "/api/v1/assistants",
        {
            "name": "Support",
            "model": "openai/gpt-4o-mini",
            "instructions_version": str(version.pk),
            "instructions_values": {"company": "Acme", "language": "English"},
        },
        format="json",
    ).json()
    provider_server.enqueue(
        Reply(text="Hello from Acme.", usage=(300, 20)), Reply(text="Bye.", usage=(400, 30))
    )
    for question in ("Hello?", "Bye?"):
        answer = member.post(
            "/api/v1/chat",
            {"assistant": assistant["id"], "message": question, "stream": False},
            format="json",
        )
        assert answer.status_code == 200, answer.content[:300]
    assert "You are Acme's support agent" in provider_server.last.body["messages"][0]["content"]

    with schema_context(org_a.slug):
        answers = Message.objects.filter(role="assistant", session__assistant_id=assistant["id"])
        tokens = sum(m.total_tokens for m in answers)
        cost = sum(m.cost for m in answers)
    assert tokens == 750 and cost > 0
    versions = member.get(f"/api/v1/prompts/{version.template_id}/versions").json()["results"]
    used = next(v for v in versions if v["number"] == version.number)
    assert (used["uses"], used["tokens"], Decimal(used["cost"])) == (2, tokens, cost)

"""A question written from a prompt template (the composer's picker) is a use of that
version, with the answer's tokens and cost (issue 14, item 3)."""

from decimal import Decimal

import pytest
from django_tenants.utils import schema_context

from assistants.tests.providers.fake_server import Reply
from chat.models import Message
from prompts import services as prompt_services
from tests.helpers import assert_error


def _template(org, author, visibility="organization"):
    with schema_context(org.slug):
        return prompt_services.template_create(
            user=author,
            name=f"Summarise ({visibility})",
            body="Summarise {{ topic }} in three bullet points.",
            variables=[{"name": "topic"}],
            visibility=visibility,
        ).published_version


@pytest.mark.django_db
def test_the_answer_to_a_templated_question_counts_as_the_versions_use(
    org_a, client_for, openai_assistant, provider_server
):
    version = _template(org_a, org_a.admin)
    member = client_for(org_a, "member")
    provider_server.enqueue(Reply(text="- one\n- two\n- three", usage=(200, 15)))
    answer = member.post(
        "/api/v1/chat",
        {
            "assistant": str(openai_assistant.id),
            "message": "Summarise refunds in three bullet points.",
            "prompt_version": str(version.pk),
            "stream": False,
        },
        format="json",
    )
    assert answer.status_code == 200, answer.content[:300]
    with schema_context(org_a.slug):
        stored = Message.objects.get(role="assistant", session_id=answer.json()["session_id"])
    assert stored.total_tokens == 215
    versions = member.get(f"/api/v1/prompts/{version.template_id}/versions").json()["results"]
    used = next(v for v in versions if v["number"] == version.number)
    assert (used["uses"], used["tokens"], Decimal(used["cost"])) == (1, 215, stored.cost)


@pytest.mark.django_db
def test_someone_elses_private_template_is_a_field_error_and_nothing_is_stored(
    org_a, client_for, openai_assistant, provider_server
):
    private = _template(org_a, org_a.admin, visibility="private")
    member = client_for(org_a, "member")
    with schema_context(org_a.slug):
        before = Message.objects.count()
    error = assert_error(
        member.post(
            "/api/v1/chat",
            {
                "assistant": str(openai_assistant.id),
                "message": "Summarise refunds.",
                "prompt_version": str(private.pk),
                "stream": False,
            },
            format="json",
        ),
        400,
    )
    assert "prompt_version" in error["fields"]
    with schema_context(org_a.slug):
        assert Message.objects.count() == before
    assert provider_server.requests == []  # no provider was asked

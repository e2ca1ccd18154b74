"""An assistant's instructions from a pinned prompt template version."""

import pytest
from django_tenants.utils import schema_context

from prompts import services as prompt_services
from tests.helpers import assert_error


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

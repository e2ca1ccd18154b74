"""A new organization's first run (issue 22, item 7): starter assistants with suggested
questions from sign-up, and the getting-started checklist that ticks itself off from
what the organization has done (GET /api/v1/onboarding)."""

import pytest
from django_tenants.utils import schema_context

from assistants import services as assistant_services
from audit.models import AuditAction, AuditEvent
from chat import services as chat_services
from core.api.authorization import caller_resolve
from knowledge_base import services as knowledge_services
from tests.factories import add_text, local_embedding_model
from tests.helpers import PASSWORD, HostClient, assert_error
from users import services as user_services
from users.models import Organization, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def newco(public_client):
    """An organization made through sign-up, as a customer makes one."""
    response = public_client.post(
        "/api/v1/signup",
        {
            "email": "founder@newco.test",
            "password": PASSWORD,
            "organization_name": "NewCo",
            "slug": "newco",
        },
    )
    assert response.status_code == 201, response.content
    organization = Organization.objects.get(schema_name="newco")
    user = User.objects.get(email="founder@newco.test")
    return organization, user, HostClient(organization.host, user)


def _done(client) -> dict:
    body = client.get("/api/v1/onboarding").json()
    return {"completed": body["completed"], "done": [s["key"] for s in body["steps"] if s["done"]]}


def test_sign_up_gives_the_starter_assistant_with_suggested_questions(newco):
    _organization, _user, client = newco
    assistants = client.get("/api/v1/assistants").json()["results"]
    helpdesk = next(a for a in assistants if a["name"] == "Help Center")
    assert helpdesk["suggested_questions"], helpdesk
    assert all(question.endswith("?") for question in helpdesk["suggested_questions"])


def test_the_checklist_ticks_itself_off_step_by_step(newco):
    organization, user, client = newco
    body = client.get("/api/v1/onboarding").json()
    assert (body["completed"], body["total"], body["dismissed"]) == (0, 4, False)
    assert [s["key"] for s in body["steps"]] == [
        "upload_document",
        "ask_question",
        "invite_teammate",
        "add_provider_key",
    ]

    with schema_context("newco"):
        collection = knowledge_services.collection_create(
            name="Handbook", embedding_model=local_embedding_model()
        )

        class Org:  # what tests.factories.add_text reads
            slug = "newco"

        add_text(Org, collection, "Refunds", "Refunds take 14 days.")
    assert _done(client) == {"completed": 1, "done": ["upload_document"]}

    with schema_context("newco"):
        helpdesk = assistant_services.Assistant.objects.get(name="Help Center")
        turn = chat_services.chat_prepare(
            organization=organization,
            assistant_id=helpdesk.id,
            message="How long do refunds take?",
            user=user,
            caller=caller_resolve(organization=organization, user=user, api_key=None),
        )
        chat_services.chat_finish(turn=turn, text="14 days.", status="complete")
    assert _done(client)["done"] == ["upload_document", "ask_question"]

    assert client.post("/api/v1/invitations", {"email": "mate@newco.test"}).status_code == 201
    assert _done(client)["completed"] == 3

    with schema_context("newco"):
        assistant_services.credential_create(provider="openai", api_key="sk-newco-1234")
    assert _done(client)["completed"] == 4


def test_a_teammate_who_joined_counts_as_invited(newco, org_a):
    organization, _user, client = newco
    user_services.Membership.objects.create(
        user=org_a.member, organization=organization, role="member"
    )
    assert _done(client)["done"] == ["invite_teammate"]


def test_an_admin_dismisses_it_for_the_organization_audited(newco):
    _organization, _user, client = newco
    response = client.patch("/api/v1/organization", {"onboarding_dismissed": True})
    assert response.status_code == 200, response.content
    assert response.json()["onboarding_dismissed"] is True
    assert client.get("/api/v1/onboarding").json()["dismissed"] is True
    with schema_context("newco"):
        event = AuditEvent.objects.get(action=AuditAction.ORGANIZATION_UPDATED)
    assert event.changes == {"onboarding_dismissed": [False, True]}


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_the_checklist_is_for_admins(org_a, client_for, role):
    assert_error(client_for(org_a, role).get("/api/v1/onboarding"), 403, "permission_denied")


def test_another_organization_gets_404(org_a, org_b, client_for):
    assert_error(client_for(org_a.host, org_b.admin).get("/api/v1/onboarding"), 404)


def test_the_checklist_is_a_few_cheap_queries(org_a, client_for, django_assert_max_num_queries):
    admin = client_for(org_a, "admin")
    admin.get("/api/v1/onboarding")
    # the request's own (session, user, tenant, membership...) + one EXISTS per step
    # (the teammate step: invitations, then a second membership)
    with django_assert_max_num_queries(11):
        assert admin.get("/api/v1/onboarding").status_code == 200


def test_an_admin_sets_an_assistants_suggested_questions_within_limits(org_a, client_for):
    admin = client_for(org_a, "admin")
    created = admin.post(
        "/api/v1/assistants",
        {"name": "Helper", "model": "local/extractive", "suggested_questions": ["Where?"]},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["suggested_questions"] == ["Where?"]
    too_many = admin.patch(
        f"/api/v1/assistants/{created.json()['id']}",
        {"suggested_questions": [f"Question {n}?" for n in range(7)]},
        format="json",
    )
    error = assert_error(too_many, 400, "invalid")
    assert any(name.startswith("suggested_questions") for name in error["fields"])

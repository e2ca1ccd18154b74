"""The admins' review of thumbs-down answers (issue 22, item 9): GET /api/v1/feedback."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from assistants import services as assistant_services
from chat import services
from chat.models import Message
from core.api.authorization import caller_resolve
from tests.factories import catalog_model
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db


def _answered(org, assistant, question: str, *, user=None) -> Message:
    user = user or org.member
    with schema_context(org.slug):
        turn = services.chat_prepare(
            organization=org.organization,
            assistant_id=assistant.id,
            message=question,
            user=user,
            caller=caller_resolve(organization=org.organization, user=user, api_key=None),
        )
        services.chat_finish(turn=turn, text=f"Answer to {question}", status="complete")
        return Message.objects.get(reply_to__content=question, role="assistant")


def _rate(org, answer: Message, rating: int, comment: str = "", days_ago: int = 0) -> None:
    with schema_context(org.slug):
        services.message_feedback(message=answer, rating=rating, comment=comment)
        if days_ago:
            Message.objects.filter(pk=answer.pk).update(
                feedback_at=timezone.now() - timedelta(days=days_ago)
            )


def assistant_for(org, *, name: str):
    with schema_context(org.slug):
        return assistant_services.assistant_create(
            user=org.admin, name=name, model=catalog_model("local/extractive")
        )


@pytest.fixture
def rated(org_a):
    """Two assistants; thumbs down on two answers (one a week old), up on a third."""
    helpdesk = assistant_for(org_a, name="Helpdesk")
    writer = assistant_for(org_a, name="Writer")
    wrong = _answered(org_a, helpdesk, "How long do refunds take?")
    _rate(org_a, wrong, -1, "It says 30 days, the policy says 14.")
    old = _answered(org_a, writer, "Draft a reply")
    _rate(org_a, old, -1, "Too formal", days_ago=7)
    fine = _answered(org_a, helpdesk, "Where is the office?")
    _rate(org_a, fine, 1)
    return {"helpdesk": helpdesk, "writer": writer, "wrong": wrong, "old": old}


def test_lists_thumbs_down_with_question_answer_sources_and_comment(org_a, client_for, rated):
    body = client_for(org_a, "admin").get("/api/v1/feedback").json()
    assert body["count"] == 2
    first = body["results"][0]  # the newest rating first
    assert first["question"] == "How long do refunds take?"
    assert first["answer"] == "Answer to How long do refunds take?"
    assert first["comment"] == "It says 30 days, the policy says 14."
    assert first["assistant_name"] == "Helpdesk"
    assert first["asked_by"] == org_a.member.email
    assert first["rating"] == -1 and isinstance(first["sources"], list)
    assert [row["question"] for row in body["results"]] == [
        "How long do refunds take?",
        "Draft a reply",
    ]


def test_filters_by_assistant_and_date_range(org_a, client_for, rated):
    admin = client_for(org_a, "admin")
    by_writer = admin.get(f"/api/v1/feedback?assistant={rated['writer'].id}").json()
    assert [row["question"] for row in by_writer["results"]] == ["Draft a reply"]
    today = timezone.now().date()
    recent = admin.get(f"/api/v1/feedback?start={today - timedelta(days=2)}&end={today}").json()
    assert [row["question"] for row in recent["results"]] == ["How long do refunds take?"]
    week = today - timedelta(days=7)
    older = admin.get(f"/api/v1/feedback?start={week}&end={week}").json()
    assert [row["question"] for row in older["results"]] == ["Draft a reply"]


def test_paginated(org_a, client_for, rated):
    body = client_for(org_a, "admin").get("/api/v1/feedback?page_size=1").json()
    assert body["count"] == 2 and len(body["results"]) == 1 and body["next"]


def test_a_bad_filter_is_a_field_error(org_a, client_for, rated):
    admin = client_for(org_a, "admin")
    error = assert_error(admin.get("/api/v1/feedback?start=2026-02-10&end=2026-02-01"), 400)
    assert "start" in error["fields"]
    error = assert_error(admin.get("/api/v1/feedback?assistant=nope"), 400)
    assert "assistant" in error["fields"]


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_get_403_in_the_one_error_format(org_a, client_for, rated, role):
    assert_error(client_for(org_a, role).get("/api/v1/feedback"), 403, "permission_denied")


def test_another_organization_gets_404(org_a, org_b, client_for, rated):
    assert_error(client_for(org_a.host, org_b.admin).get("/api/v1/feedback"), 404)
    # and its own review holds none of alpha's answers
    assert client_for(org_b, "admin").get("/api/v1/feedback").json()["count"] == 0


def test_clearing_a_rating_takes_the_answer_off_the_list(org_a, client_for, rated):
    _rate(org_a, rated["wrong"], None)
    body = client_for(org_a, "admin").get("/api/v1/feedback").json()
    assert [row["question"] for row in body["results"]] == ["Draft a reply"]

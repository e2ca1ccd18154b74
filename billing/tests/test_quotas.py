"""Monthly quotas: refused before any provider call, with nothing charged or written."""

import io
from decimal import Decimal

import pytest
from django_tenants.utils import schema_context

from billing.models import UsageRecord
from chat.models import ChatSession, Message
from knowledge_base.models import Document, DocumentStatus
from tests.factories import make_assistant, process_pending
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db


def _spent(org, tokens: int, cost: str) -> None:
    UsageRecord.objects.create(
        organization=org.organization,
        kind="chat",
        provider="openai",
        model_id="gpt-4o-mini",
        total_tokens=tokens,
        prompt_tokens=tokens,
        input_price_per_million=0,
        output_price_per_million=0,
        cost=Decimal(cost),
    )


def _chat(client, assistant, message="What is the refund policy?"):
    return client.post(
        "/api/v1/chat", {"assistant": str(assistant.pk), "message": message, "stream": False}
    )


def _rows(org) -> tuple[int, int, int]:
    with schema_context(org.slug):
        return (
            ChatSession.objects.count(),
            Message.objects.count(),
            UsageRecord.objects.filter(organization=org.organization).count(),
        )


@pytest.mark.parametrize(
    ("limits", "spent", "quota"),
    [
        ({"monthly_tokens": 1_000}, (1_000, "0.01"), "tokens"),
        ({"monthly_cost": Decimal("2.00")}, (10, "2.00"), "spending limit"),
    ],
)
def test_over_the_monthly_ai_quota_chat_is_refused_before_the_provider(
    org_a, client_for, use_plan, provider_server, openai_helper, limits, spent, quota
):
    use_plan(**limits)
    _spent(org_a, *spent)
    provider_server.reset()
    before = _rows(org_a)

    response = _chat(client_for(org_a, "member"), openai_helper)

    error = assert_error(response, 402, "quota_exceeded")
    assert quota in error["message"]
    assert provider_server.requests == []
    assert _rows(org_a) == before


def test_under_the_quota_chat_answers_and_is_counted(
    org_a, client_for, use_plan, provider_server, openai_helper
):
    use_plan(monthly_tokens=1_000_000)

    assert _chat(client_for(org_a, "member"), openai_helper).status_code == 200
    assert UsageRecord.objects.filter(organization=org_a.organization).count() == 1


def test_monthly_messages_quota(org_a, client_for, use_plan):
    assistant = make_assistant(org_a, with_knowledge=False)
    use_plan(monthly_messages=1)
    member = client_for(org_a, "member")

    first = _chat(member, assistant)
    before = _rows(org_a)
    second = _chat(member, assistant)

    assert first.status_code == 200
    assert "chat messages" in assert_error(second, 402, "quota_exceeded")["message"]
    assert _rows(org_a) == before


def test_documents_and_storage_quotas_refuse_uploads_whole(org_a, client_for, use_plan, collection):
    use_plan(max_documents=2, max_storage_bytes=10_000)
    member = client_for(org_a, "member")
    url = f"/api/v1/collections/{collection.pk}/documents"

    def upload(*files):
        payload = []
        for name, data in files:
            handle = io.BytesIO(data)
            handle.name = name
            payload.append(handle)
        return member.post(url, {"files": payload}, format="multipart")

    assert upload(("a.md", b"# A\n\nalpha")).status_code == 201
    too_many = upload(("b.md", b"# B\n\nbeta"), ("c.md", b"# C\n\ngamma"))
    too_big = upload(("d.md", b"# D\n\n" + b"x" * 12_000))

    assert "documents" in assert_error(too_many, 402, "quota_exceeded")["message"]
    assert "bytes" in assert_error(too_big, 402, "quota_exceeded")["message"]
    with schema_context(org_a.slug):
        assert list(Document.objects.values_list("title", flat=True)) == ["a.md"]


def test_ingestion_over_the_token_quota_fails_the_document_with_the_reason(
    org_a,
    use_plan,
    collection,
):
    from knowledge_base import services as knowledge_services

    use_plan(monthly_tokens=5)
    _spent(org_a, 5, "0")
    with schema_context(org_a.slug):
        knowledge_services.document_create_text(
            collection=collection, title="Late", text="Some words to embed."
        )

    process_pending(org_a)

    with schema_context(org_a.slug):
        document = Document.objects.get(title="Late")
        assert document.status == DocumentStatus.FAILED
        assert "tokens for this month" in document.error
        assert not document.chunks.exists()


def test_a_refusing_quota_announces_itself_once_a_month(org_a, client_for, use_plan):
    """``usage.quota_reached`` (for webhooks and workflows) the first time the quota
    refuses this month, although the refused request's transaction rolls back."""
    from django.core.cache import caches

    from billing.quotas import month_start
    from core import events

    caches["shared"].delete(
        f"quota-reached:{org_a.organization.pk}:monthly_messages:{month_start():%Y-%m}"
    )
    seen = []

    def record(event):
        seen.append(event)

    events.subscribe(record)
    try:
        assistant = make_assistant(org_a, with_knowledge=False)
        use_plan(monthly_messages=1)
        member = client_for(org_a, "member")
        assert _chat(member, assistant).status_code == 200
        for _ in range(3):
            assert_error(_chat(member, assistant), 402, "quota_exceeded")
    finally:
        events.unsubscribe(record)

    reached = [e for e in seen if e.type == "usage.quota_reached"]
    assert len(reached) == 1
    assert reached[0].schema_name == org_a.slug
    assert reached[0].payload["quota"] == "monthly_messages"
    assert reached[0].payload["limit"] == "1" and reached[0].payload["used"] == "1"

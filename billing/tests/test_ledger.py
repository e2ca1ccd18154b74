"""The usage ledger: one row per provider call, adding up to what messages show."""

from decimal import Decimal

import pytest
from django.db.models import Sum
from django_tenants.utils import schema_context

from assistants import services as assistant_services
from billing.models import UsageRecord
from chat.models import Message
from tests.factories import make_assistant
from tests.helpers import GOOD_KEY, stream_body

pytestmark = pytest.mark.django_db


def test_ledger_totals_equal_the_sum_of_the_message_costs(org_a, client_for, provider_server):
    with schema_context(org_a.slug):
        assistant_services.credential_create(
            provider="openai", api_key=GOOD_KEY, base_url=f"{provider_server.url}/v1"
        )
    assistant = make_assistant(org_a, "openai/gpt-4o-mini")
    member = client_for(org_a, "member")

    first = member.post(
        "/api/v1/chat",
        {"assistant": str(assistant.pk), "message": "How long do refunds take?", "stream": False},
    )
    session = first.json()["session_id"]
    # a follow-up: the model also rewrites the retrieval query (one more provider call)
    member.post(
        "/api/v1/chat",
        {
            "assistant": str(assistant.pk),
            "session": session,
            "message": "And how does it work?",
            "stream": False,
        },
    )
    streamed = member.post(
        "/api/v1/chat",
        {
            "assistant": str(assistant.pk),
            "session": session,
            "message": "Which days do parcels leave the Lyon warehouse?",
            "stream": True,
        },
    )
    assert b"event: done" in stream_body(streamed)

    ledger = UsageRecord.objects.filter(
        organization=org_a.organization, assistant_id=assistant.pk, kind="chat"
    ).aggregate(cost=Sum("cost"), tokens=Sum("total_tokens"), calls=Sum(1))
    with schema_context(org_a.slug):
        messages = Message.objects.filter(session_id=session, role="assistant").aggregate(
            cost=Sum("cost"), tokens=Sum("total_tokens")
        )
    assert ledger["calls"] == 4  # three answers and one rewrite
    assert ledger["cost"] > Decimal("0")
    assert ledger["cost"] == messages["cost"]
    assert ledger["tokens"] == messages["tokens"]
    # the member, the web channel and the catalog's unit prices are on every row
    rows = UsageRecord.objects.filter(assistant_id=assistant.pk, kind="chat")
    assert set(rows.values_list("user", "channel")) == {(org_a.member.pk, "web")}
    assert all(r.input_price_per_million > 0 for r in rows)

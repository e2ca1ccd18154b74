"""GET /api/v1/usage and /api/v1/usage/quotas: what admins and usage:read keys see."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import UsageRecord
from integrations.models import Scope
from tests.factories import api_key_for, make_assistant
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db


def _row(org, day, *, model="gpt-4o-mini", tokens=100, cost="0.010000", **fields):
    UsageRecord.objects.create(
        organization=org.organization,
        kind=fields.pop("kind", "chat"),
        provider="openai",
        model_id=model,
        prompt_tokens=tokens // 2,
        completion_tokens=tokens - tokens // 2,
        total_tokens=tokens,
        input_price_per_million=1,
        output_price_per_million=2,
        cost=Decimal(cost),
        created_at=timezone.make_aware(datetime.combine(day, datetime.min.time()))
        + timedelta(hours=12),
        **fields,
    )


@pytest.fixture
def ledger(org_a, org_b):
    today = timezone.now().date()
    assistant = make_assistant(org_a, with_knowledge=False)
    api_key, _ = api_key_for(org_a, Scope.CHAT_WRITE, name="Zapier")
    _row(org_a, today, assistant_id=assistant.pk, user=org_a.member)
    _row(org_a, today, model="gpt-4o", tokens=300, cost="0.100000", api_key=api_key, channel="api")
    _row(org_a, today - timedelta(days=2), kind="embedding", tokens=50, cost="0.000500")
    _row(org_a, today - timedelta(days=40), tokens=999, cost="9.000000")  # outside the range
    _row(org_b, today, tokens=7777, cost="7.000000")  # another organization
    return {"today": today, "assistant": assistant, "api_key": api_key}


def test_usage_by_day_fills_the_range_and_totals_it(org_a, client_for, ledger):
    today = ledger["today"]
    start = today - timedelta(days=6)

    body = (
        client_for(org_a, "admin")
        .get("/api/v1/usage", {"start": start.isoformat(), "end": today.isoformat()})
        .json()
    )

    assert body["group_by"] == "day" and body["count"] == 7
    assert [r["key"] for r in body["results"]] == [
        (start + timedelta(days=i)).isoformat() for i in range(7)
    ]
    by_day = {r["key"]: r for r in body["results"]}
    assert by_day[today.isoformat()]["total_tokens"] == 400
    assert by_day[(today - timedelta(days=2)).isoformat()]["calls"] == 1
    assert by_day[(today - timedelta(days=1)).isoformat()]["calls"] == 0
    assert body["totals"] == {
        "calls": 3,
        "prompt_tokens": 225,
        "completion_tokens": 225,
        "total_tokens": 450,
        "cost": "0.110500",
    }


@pytest.mark.parametrize(
    ("group_by", "expected"),
    [
        ("model", {"openai/gpt-4o": "0.100000", "openai/gpt-4o-mini": "0.010500"}),
        ("channel", {"Web": "0.010500", "API": "0.100000"}),
        ("kind", {"Chat": "0.110000", "Embedding": "0.000500"}),
    ],
)
def test_usage_grouped(org_a, client_for, ledger, group_by, expected):
    body = client_for(org_a, "admin").get("/api/v1/usage", {"group_by": group_by}).json()

    assert {r["label"]: r["cost"] for r in body["results"]} == expected
    assert body["results"][0]["cost"] == max(expected.values())  # largest first


def test_usage_by_assistant_and_key_is_labelled_with_their_names(org_a, client_for, ledger):
    admin = client_for(org_a, "admin")

    assistants = admin.get("/api/v1/usage", {"group_by": "assistant"}).json()["results"]
    keys = admin.get("/api/v1/usage", {"group_by": "api_key"}).json()["results"]

    assert {r["label"] for r in assistants} == {ledger["assistant"].name, "No assistant"}
    assert f"Zapier ({ledger['api_key'].prefix})" in {r["label"] for r in keys}


def test_bad_ranges_are_field_errors(org_a, client_for):
    admin = client_for(org_a, "admin")

    reversed_ = admin.get("/api/v1/usage", {"start": "2026-11-20", "end": "2026-11-01"})
    too_long = admin.get("/api/v1/usage", {"start": "2024-01-01", "end": "2026-01-01"})
    garbage = admin.get("/api/v1/usage", {"start": "yesterday", "group_by": "planet"})

    assert "start" in assert_error(reversed_, 400)["fields"]
    assert "start" in assert_error(too_long, 400)["fields"]
    assert {"start", "group_by"} <= set(assert_error(garbage, 400)["fields"])


def test_usage_is_for_admins_and_usage_keys(org_a, client_for, ledger):
    _, key = api_key_for(org_a, Scope.USAGE_READ)

    assert_error(client_for(org_a, "member").get("/api/v1/usage"), 403)
    assert client_for(org_a.host, api_key=key).get("/api/v1/usage").status_code == 200


def test_quotas_show_the_plan_and_this_months_use(org_a, client_for, ledger, use_plan):
    use_plan(monthly_tokens=10_000, max_documents=5)

    body = client_for(org_a, "viewer").get("/api/v1/usage/quotas").json()

    quotas = {q["name"]: q for q in body["quotas"]}
    assert body["plan"]["name"] == "Tight"
    month_tokens = UsageRecord.objects.filter(
        organization=org_a.organization, created_at__gte=body["period_start"]
    ).values_list("total_tokens", flat=True)
    assert quotas["monthly_tokens"]["used"] == sum(month_tokens)
    assert quotas["monthly_tokens"]["remaining"] == 10_000 - sum(month_tokens)
    assert quotas["max_documents"]["limit"] == 5
    assert quotas["monthly_cost"]["limit"] is None and quotas["monthly_cost"]["remaining"] is None

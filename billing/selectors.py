"""Reads of the usage ledger: totals and breakdowns for one organization."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncDate

from billing import sources
from billing.models import Channel, UsageKind, UsageRecord
from users.models import User

GROUPS = ("day", "model", "assistant", "api_key", "channel", "kind", "user")
_GROUP_FIELDS = {
    "day": "day",
    "model": "model_id",
    "assistant": "assistant_id",
    "api_key": "api_key_id",
    "channel": "channel",
    "kind": "kind",
    "user": "user_id",
}
_SUMS = {
    "calls": Count("id"),
    "prompt_tokens": Sum("prompt_tokens"),
    "completion_tokens": Sum("completion_tokens"),
    "total_tokens": Sum("total_tokens"),
    "cost": Sum("cost"),
}


def usage_records(*, organization, start: date, end: date) -> QuerySet[UsageRecord]:
    """The ledger rows of ``start`` to ``end`` (both included, UTC days). Bounds on
    ``created_at`` itself, so the (organization, created_at) index serves the range."""
    return UsageRecord.objects.filter(
        organization=organization,
        created_at__gte=datetime.combine(start, time.min, tzinfo=UTC),
        created_at__lt=datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC),
    )


def usage_totals(*, organization, start: date, end: date) -> dict:
    totals = usage_records(organization=organization, start=start, end=end).aggregate(**_SUMS)
    return {name: value or 0 for name, value in totals.items()}


def usage_breakdown(*, organization, start: date, end: date, group_by: str) -> list[dict]:
    """One row per group, largest cost first (days in date order)."""
    field = _GROUP_FIELDS[group_by]
    records = usage_records(organization=organization, start=start, end=end)
    if group_by == "day":
        records = records.annotate(day=TruncDate("created_at", tzinfo=UTC))
    rows = (
        records.values(*([field, "provider"] if group_by == "model" else [field]))
        .annotate(**_SUMS)
        .order_by(field if group_by == "day" else "-cost", field)
    )
    out = []
    for row in rows:
        key = row[field]
        if group_by == "model":
            key = f"{row['provider']}/{row[field]}"
        out.append({"key": "" if key is None else str(key), **{k: row[k] or 0 for k in _SUMS}})
    if group_by == "day":
        out = _every_day(out, start, end)
    _label(out, group_by)
    return out


def _every_day(rows: list[dict], start: date, end: date) -> list[dict]:
    """Days without usage as zero rows, so a chart has no gaps."""
    by_day = {row["key"]: row for row in rows}
    days = []
    day = start
    while day <= end:
        days.append(
            by_day.get(day.isoformat()) or {"key": day.isoformat(), **dict.fromkeys(_SUMS, 0)}
        )
        day += timedelta(days=1)
    return days


def _label(rows: list[dict], group_by: str) -> None:
    names: dict[str, str] = {}
    ids = [r["key"] for r in rows if r["key"]]
    if group_by in ("assistant", "api_key") and ids:
        names = sources.labels(group_by, ids)
    elif group_by == "user" and ids:
        names = {
            str(pk): email
            for pk, email in User.objects.filter(id__in=ids).values_list("id", "email")
        }
    elif group_by == "channel":
        names = dict(Channel.choices)
    elif group_by == "kind":
        names = dict(UsageKind.choices)
    empty = {
        "assistant": "No assistant",
        "api_key": "No API key (dashboard)",
        "user": "No person",
    }.get(group_by, "—")
    for row in rows:
        key = row["key"]
        if not key:
            row["label"] = empty
        else:
            row["label"] = names.get(key) or (key if group_by in ("day", "model") else "(deleted)")

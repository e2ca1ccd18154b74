"""Quotas (per month) and the AI token rate (per minute), from the organization's plan.

Checked before a provider is called, so a caller over quota is refused with
nothing charged and nothing written:

    402 quota_exceeded  a monthly quota (tokens, cost, messages, documents, storage)
    429 rate_limited    the plan's AI tokens per minute (with Retry-After)

Tokens are only known once a call returns, so calls already running when a
token or cost quota is reached still finish: those quotas can be overshot by
the calls in flight, never by a call started after. Messages, documents and
storage are counted exactly, under a per-organization lock.
"""

from __future__ import annotations

import logging
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import redis
from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.db.models import Count, Sum

from billing import sources
from billing.models import UsageRecord
from billing.plans import plan_for
from core import errors, events

# A monthly quota is used up (402 at the API); ``quota`` names which.
QuotaExceeded = errors.QuotaExceeded

logger = logging.getLogger(__name__)


class TokenRateExceeded(errors.RateLimited):
    """The plan's AI tokens per minute are used up; ``retry_after`` seconds until the
    window frees some (the API's Retry-After)."""


def month_start(now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month_start(now: datetime | None = None) -> datetime:
    start = month_start(now)
    return (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )


# -- AI calls -----------------------------------------------------------------


def ai_month_totals(organization) -> dict:
    return UsageRecord.objects.filter(
        organization=organization, created_at__gte=month_start()
    ).aggregate(tokens=Sum("total_tokens"), cost=Sum("cost"), calls=Count("id"))


def quota_check_ai(organization, api_key=None) -> None:
    """Before any provider call: tokens per minute (the organization's, and the API
    key's when a key calls), then the monthly tokens and cost."""
    plan = plan_for(organization)
    _check_token_rate(_org_subject(organization), plan.tokens_per_minute, "Your organization")
    if api_key is not None:
        _check_token_rate(_key_subject(api_key), plan.key_tokens_per_minute, "This API key")
    if plan.monthly_tokens is None and plan.monthly_cost is None:
        return
    totals = ai_month_totals(organization)
    if plan.monthly_tokens is not None and (totals["tokens"] or 0) >= plan.monthly_tokens:
        _quota_reached(
            organization, quota="monthly_tokens", limit=plan.monthly_tokens, used=totals["tokens"]
        )
        raise QuotaExceeded(
            f"Your organization used its {plan.monthly_tokens:,} AI tokens for this month "
            f"({plan.name} plan).",
            quota="monthly_tokens",
        )
    if plan.monthly_cost is not None and (totals["cost"] or Decimal(0)) >= plan.monthly_cost:
        _quota_reached(
            organization, quota="monthly_cost", limit=plan.monthly_cost, used=totals["cost"]
        )
        raise QuotaExceeded(
            f"Your organization reached its AI spending limit of {plan.monthly_cost} for this "
            f"month ({plan.name} plan).",
            quota="monthly_cost",
        )


def _quota_reached(organization, *, quota: str, limit, used) -> None:
    """Announce ``usage.quota_reached`` (webhooks, workflows) the first time a quota
    refuses in its month; later refusals of that month are quiet. Delivered at once:
    the refused work's transaction rolls back. Never in the way of the refusal itself."""
    start = month_start()
    key = f"quota-reached:{organization.pk}:{quota}:{start:%Y-%m}"
    ttl = int((next_month_start() - datetime.now(UTC)).total_seconds()) + 86400
    try:
        if not caches["shared"].add(key, 1, timeout=ttl):
            return
        events.event_emit(
            type="usage.quota_reached",
            payload={
                "quota": quota,
                "limit": str(limit),
                "used": str(used or 0),
                "period_start": start.isoformat(),
            },
            immediate=True,
        )
    except Exception:
        logger.exception("usage.quota_reached not announced for %s", quota)


def _org_subject(organization) -> str:
    return f"org:{organization.pk}"


def _key_subject(api_key) -> str:
    return f"key:{api_key.pk}"


def _check_token_rate(subject: str, limit: int | None, who: str) -> None:
    if limit is None:
        return
    used, wait = _tokens_used(subject)
    if used >= limit:
        raise TokenRateExceeded(
            f"{who} used its {limit:,} AI tokens for this minute. Retry in {wait} seconds.",
            retry_after=wait,
        )


def _token_key(subject: str, window: int) -> str:
    return f"ai-tokens:{subject}:{window}"


def _window() -> tuple[int, int]:
    """(start of the current window, seconds left in it)."""
    seconds = settings.RATE_LIMIT_WINDOW_SECONDS
    now = int(time.time())
    start = now - now % seconds
    return start, start + seconds - now


def _tokens_used(subject: str) -> tuple[int, int]:
    """Tokens of this minute's window. While Redis is down: 0 (the per-minute limit
    fails open; the monthly token and cost quotas, read from the ledger in PostgreSQL,
    still hold exactly)."""
    start, wait = _window()
    try:
        used = int(caches["shared"].get(_token_key(subject, start), 0))
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        logger.warning("AI tokens per minute not checked, Redis unavailable: %s", exc)
        used = 0
    return used, max(wait, 1)


def tokens_count(organization, tokens: int, api_key=None) -> None:
    """Add a finished call's tokens to this minute's windows (atomic in Redis).

    Skipped while Redis is down: this counter only feeds the per-minute limit, the
    call's tokens are in its ledger row (PostgreSQL), which is written regardless."""
    tokens_count_many([(organization, tokens, api_key)])


def tokens_count_many(calls: list[tuple[object, int, object | None]]) -> None:
    """``tokens_count`` for many finished calls ((organization, tokens, api key)), in one
    Redis round trip: the tokens of each subject (organization, key) are added once."""
    totals: dict[str, int] = {}
    for organization, tokens, api_key in calls:
        if tokens <= 0:
            continue
        subjects = [_org_subject(organization)] + ([_key_subject(api_key)] if api_key else [])
        for subject in subjects:
            totals[subject] = totals.get(subject, 0) + tokens
    if not totals:
        return
    try:
        _tokens_add(totals)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        logger.warning("AI tokens per minute not counted, Redis unavailable: %s", exc)


def _tokens_add(totals: dict[str, int]) -> None:
    """One Redis round trip for every window (the cache's ``add`` then ``incr`` cost three
    per window): each key is created at 0 with its expiry if missing, then incremented.
    The values are the cache's integers, which ``_tokens_used`` reads back."""
    start, _ = _window()
    cache, ttl = caches["shared"], settings.RATE_LIMIT_WINDOW_SECONDS + 5
    keys = {
        cache.make_and_validate_key(_token_key(subject, start)): tokens
        for subject, tokens in totals.items()
    }
    pipeline = cache._cache.get_client(next(iter(keys)), write=True).pipeline(transaction=False)
    for key, tokens in keys.items():
        pipeline.set(key, 0, ex=ttl, nx=True)
        pipeline.incrby(key, tokens)
    pipeline.execute()


# -- messages, documents, storage (organization schema) ------------------------


def _lock(organization, what: str) -> None:
    """Serialize quota checks of one organization until the transaction ends, so a
    burst of requests cannot all pass the same last free slot."""
    key = zlib.crc32(f"quota:{organization.pk}:{what}".encode())
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def messages_this_month() -> int:
    return sources.count("messages_since", since=month_start())


def quota_check_messages(organization, *, lock: bool = False) -> None:
    """One more chat message. With ``lock`` (inside the transaction that stores the
    message) the count is exact under concurrency."""
    limit = plan_for(organization).monthly_messages
    if limit is None:
        return
    if lock:
        _lock(organization, "messages")
    used = messages_this_month()
    if used >= limit:
        _quota_reached(organization, quota="monthly_messages", limit=limit, used=used)
        raise QuotaExceeded(
            f"Your organization sent its {limit:,} chat messages for this month.",
            quota="monthly_messages",
        )


def document_totals() -> tuple[int, int]:
    return sources.count("document_totals")


def stored_bytes() -> int:
    """Bytes the plan's storage limit counts: knowledge documents and attachments."""
    return document_totals()[1] + sources.count("attachment_bytes")


def quota_check_storage(organization, *, size_bytes: int) -> None:
    """Room for ``size_bytes`` more stored bytes (attachments). Call inside the
    transaction that stores them; shares the documents' lock and limit."""
    plan = plan_for(organization)
    if plan.max_storage_bytes is None:
        return
    _lock(organization, "documents")
    stored = stored_bytes()
    if stored + size_bytes > plan.max_storage_bytes:
        raise QuotaExceeded(
            f"Your plan allows {plan.max_storage_bytes:,} bytes of storage; "
            f"{stored:,} are used and this upload needs {size_bytes:,}.",
            quota="max_storage_bytes",
        )


def quota_check_documents(organization, *, count: int, size_bytes: int) -> None:
    """Room for ``count`` more documents of ``size_bytes`` in all. Call inside the
    transaction that stores them."""
    plan = plan_for(organization)
    if plan.max_documents is None and plan.max_storage_bytes is None:
        return
    _lock(organization, "documents")
    documents, _ = document_totals()
    stored = stored_bytes()
    if plan.max_documents is not None and documents + count > plan.max_documents:
        _quota_reached(
            organization, quota="max_documents", limit=plan.max_documents, used=documents
        )
        raise QuotaExceeded(
            f"Your plan allows {plan.max_documents:,} documents; the organization has "
            f"{documents:,} and this would add {count:,}.",
            quota="max_documents",
        )
    if plan.max_storage_bytes is not None and stored + size_bytes > plan.max_storage_bytes:
        _quota_reached(
            organization, quota="max_storage_bytes", limit=plan.max_storage_bytes, used=stored
        )
        raise QuotaExceeded(
            f"Your plan allows {plan.max_storage_bytes:,} bytes of documents; "
            f"{stored:,} are used and this upload needs {size_bytes:,}.",
            quota="max_storage_bytes",
        )


# -- status (for the dashboard and GET /usage/quotas) --------------------------


@dataclass(frozen=True)
class QuotaStatus:
    name: str
    limit: int | Decimal | None
    used: int | Decimal

    @property
    def remaining(self):
        return None if self.limit is None else max(self.limit - self.used, 0)


def quota_status(organization) -> list[QuotaStatus]:
    plan = plan_for(organization)
    totals = ai_month_totals(organization)
    documents, _ = document_totals()
    stored = stored_bytes()
    used_tokens, _ = _tokens_used(_org_subject(organization))
    return [
        QuotaStatus("monthly_tokens", plan.monthly_tokens, totals["tokens"] or 0),
        QuotaStatus("monthly_cost", plan.monthly_cost, totals["cost"] or Decimal("0")),
        QuotaStatus("monthly_messages", plan.monthly_messages, messages_this_month()),
        QuotaStatus("max_documents", plan.max_documents, documents),
        QuotaStatus("max_storage_bytes", plan.max_storage_bytes, stored),
        QuotaStatus("tokens_per_minute", plan.tokens_per_minute, used_tokens),
    ]

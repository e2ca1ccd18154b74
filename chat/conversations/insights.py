"""Topics and sentiment over the conversations a person can see (the dashboard home).

Read from each conversation's current analysis (its newest ``ConversationAnalysis``
version), imported and live alike, dated by the conversation's last message (an
imported one's are the source's times). Visibility is chat's: one's own and shared
conversations; an admin's, the organization's.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Avg, Count, Q
from django.db.models.functions import Coalesce, Trunc

from chat.access import sessions_visible
from chat.models import ConversationAnalysis
from core.access import Caller

BUCKETS = ("day", "week", "month")
TOP_TOPICS = 12
LABELS = ("positive", "neutral", "negative")


@dataclass(frozen=True)
class InsightsQuery:
    date_from: datetime | None = None
    date_to: datetime | None = None
    bucket: str = "month"
    source: str | None = None


def conversation_insights(*, caller: Caller, query: InsightsQuery) -> dict:
    visible = sessions_visible(caller=caller)
    if query.source:
        visible = visible.filter(source=query.source)
    current = (
        ConversationAnalysis.objects.filter(session__in=visible.values("id"))
        .order_by("session_id", "-version")
        .distinct("session_id")
        .values("id")
    )
    analyses = ConversationAnalysis.objects.filter(id__in=current).annotate(
        at=Coalesce("session__last_message_at", "session__source_created_at", "session__created_at")
    )
    if query.date_from:
        analyses = analyses.filter(at__gte=query.date_from)
    if query.date_to:
        analyses = analyses.filter(at__lt=query.date_to)
    by_label = {label: Count("id", filter=Q(sentiment_label=label)) for label in LABELS}
    totals = analyses.aggregate(
        conversations=Count("id"), average_sentiment=Avg("sentiment_score"), **by_label
    )
    timeline = list(
        analyses.annotate(period=Trunc("at", query.bucket))
        .values("period")
        .annotate(conversations=Count("id"), average_sentiment=Avg("sentiment_score"), **by_label)
        .order_by("period")
    )
    return {
        "conversations": totals["conversations"],
        "sentiment": {
            "average": totals["average_sentiment"],
            **{label: totals[label] for label in LABELS},
        },
        "topics": _topics(analyses.values_list("topics", flat=True)),
        "bucket": query.bucket,
        "timeline": timeline,
    }


def _topics(rows) -> list[dict]:
    """The most frequent topics, counted once per conversation, case folded (shown as
    most often written)."""
    counts: Counter[str] = Counter()
    spellings: dict[str, Counter[str]] = {}
    for topics in rows.iterator(chunk_size=2000):
        seen = set()
        for topic in topics or []:
            text = " ".join(str(topic).split())
            key = text.casefold()
            if not key or key in seen:
                continue
            seen.add(key)
            counts[key] += 1
            spellings.setdefault(key, Counter())[text] += 1
    return [
        {"topic": spellings[key].most_common(1)[0][0], "conversations": count}
        for key, count in counts.most_common(TOP_TOPICS)
    ]

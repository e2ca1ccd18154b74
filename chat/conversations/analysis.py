"""A conversation's analysis: summary, topics, sentiment, action items, key points.

With an AI model (the organization's analysis model, else the conversation's
assistant's), the model is asked for one JSON object (structured output by
instruction, validated here) and the call is costed in the ledger like any other.
Offline (the local extractive model, or no model that can answer) real local methods
run instead, and the analysis says so (``method`` "local"):

- summary and key points: extractive (the sentences nearest the conversation's
  word centroid, in their original order);
- topics: YAKE keyword extraction (``yake``, statistical, no model download);
- sentiment: VADER (``vaderSentiment``, lexicon shipped in the package), the mean
  compound score of the person's messages;
- action items: sentences that commit to or ask for an action ("I'll", "we need
  to", "remember to", "next step"...).

Each run stores a new version (one row per version; the newest is current).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import Counter
from decimal import Decimal

from django.db import transaction
from django.db.models import Max

from assistants import gateway
from assistants.catalog.models import AIModel, AnswerMode
from assistants.providers.base import ChatMessage, ChatRequest
from assistants.providers.errors import ProviderError
from assistants.providers.local_provider import terms as word_terms
from assistants.providers.tokens import count_tokens
from billing.models import Channel
from chat.conversations import indexing
from chat.models import (
    ChatSession,
    ConversationAnalysis,
    ConversationImport,
    Message,
    MessageStatus,
    Role,
)
from core import events
from core.tenancy import require_tenant_schema

logger = logging.getLogger(__name__)

LOCAL_MODEL_LABEL = "local: extractive summary, YAKE topics, VADER sentiment"
MAX_TRANSCRIPT_TOKENS = 12_000  # what a model is sent (the end is kept: the latest turns)
MAX_LOCAL_CHARS = 200_000
POSITIVE, NEGATIVE = 0.05, -0.05  # VADER's documented thresholds on the compound score

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_ACTION = re.compile(
    r"\b(i'll|i will|we'll|we will|let's|need to|needs to|have to|has to|must|should|"
    r"remember to|don't forget|do not forget|to-?do|action item|next step|follow up|"
    r"make sure|schedule|book|send|call|email|buy|submit|review)\b",
    re.IGNORECASE,
)

PROMPT = """You analyse a conversation between a person and an AI assistant.
Answer with one JSON object and nothing else, with these keys:
"summary": 2-4 sentences; "topics": up to 6 short noun phrases;
"sentiment": {"label": "positive"|"neutral"|"negative", "score": number from -1 to 1}
(the person's mood); "action_items": up to 8 concrete things someone should do;
"key_points": up to 6 facts or decisions worth remembering."""


def _messages(session: ChatSession) -> list[Message]:
    superseded = Message.objects.filter(session=session, parent__isnull=False).values("parent_id")
    return list(
        session.messages.filter(status=MessageStatus.COMPLETE, role__in=[Role.USER, Role.ASSISTANT])
        .exclude(id__in=superseded)
        .exclude(content="")
        .order_by("created_at", "id")
        .only("role", "content")
    )


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if 20 <= len(s.strip()) <= 600]


def _centroid_rank(sentences: list[str], limit: int) -> list[str]:
    """The ``limit`` sentences sharing the most (log-weighted) words with the whole,
    in their original order."""
    bags = [word_terms(s) for s in sentences]
    counts = Counter(t for bag in bags for t in bag)
    scored = [
        (sum(math.log1p(counts[t]) for t in bag) / math.sqrt(len(bag) or 1), i)
        for i, bag in enumerate(bags)
    ]
    chosen = sorted(i for _, i in sorted(scored, reverse=True)[:limit])
    return [sentences[i] for i in chosen]


def _topics(text: str, limit: int = 6) -> list[str]:
    import yake  # imported here: it pulls networkx and numpy in

    extractor = yake.KeywordExtractor(lan="en", n=2, top=limit * 3, dedupLim=0.7)
    topics: list[str] = []
    for phrase, _score in extractor.extract_keywords(text):
        phrase = phrase.strip(" .,:;!?\"'()[]").strip()
        if len(phrase) < 3 or any(phrase.lower() in t.lower() for t in topics):
            continue
        topics.append(phrase)
        if len(topics) == limit:
            break
    return topics


def _sentiment(texts: list[str]) -> tuple[str, float]:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    if not texts:
        return "neutral", 0.0
    analyzer = SentimentIntensityAnalyzer()
    score = sum(analyzer.polarity_scores(t[:5000])["compound"] for t in texts) / len(texts)
    label = "positive" if score >= POSITIVE else "negative" if score <= NEGATIVE else "neutral"
    return label, round(score, 4)


def local_analysis(messages: list[Message]) -> dict:
    text = "\n".join(m.content for m in messages)[:MAX_LOCAL_CHARS]
    sentences = _sentences(text)
    answers = [s for m in messages if m.role == Role.ASSISTANT for s in _sentences(m.content)]
    summary = " ".join(_centroid_rank(sentences, 3)) if sentences else text[:300]
    key_points = [s for s in _centroid_rank(answers, 8) if s not in summary][:5]
    actions, seen = [], set()
    for sentence in sentences:
        if _ACTION.search(sentence) and sentence.lower() not in seen and not sentence.endswith("?"):
            seen.add(sentence.lower())
            actions.append({"text": sentence[:300], "done": False})
    label, score = _sentiment([m.content for m in messages if m.role == Role.USER])
    return {
        "summary": summary,
        "topics": _topics(text) if text.strip() else [],
        "sentiment_label": label,
        "sentiment_score": score,
        "action_items": actions[:8],
        "key_points": key_points,
    }


def _transcript(messages: list[Message]) -> str:
    lines, used = [], 0
    for message in reversed(messages):
        line = f"{message.role}: {message.content}"
        used += count_tokens(line)
        if used > MAX_TRANSCRIPT_TOKENS and lines:
            break
        lines.append(line[:20_000])
    return "\n\n".join(reversed(lines))


def _json_object(text: str) -> dict:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("no JSON object in the answer")
    return json.loads(text[start : end + 1])


def _strings(value, limit: int) -> list[str]:
    if not isinstance(value, list):
        return []
    return [str(v).strip()[:300] for v in value if str(v).strip()][:limit]


def model_analysis(messages: list[Message], model: AIModel, context) -> tuple[dict, object]:
    request = ChatRequest(
        model=model.model_id,
        system=PROMPT,
        messages=[ChatMessage("user", _transcript(messages))],
        temperature=0,
        max_tokens=900,
    )
    priced = gateway.ai_chat_complete(model=model, request=request, context=context)
    raw = _json_object(priced.result.text)
    sentiment = raw.get("sentiment") if isinstance(raw.get("sentiment"), dict) else {}
    label = str(sentiment.get("label", "neutral")).lower()
    try:
        score = max(-1.0, min(1.0, float(sentiment.get("score", 0))))
    except (TypeError, ValueError):
        score = 0.0
    return {
        "summary": str(raw.get("summary", ""))[:4000],
        "topics": _strings(raw.get("topics"), 6),
        "sentiment_label": label if label in ("positive", "neutral", "negative") else "neutral",
        "sentiment_score": score,
        "action_items": [{"text": t, "done": False} for t in _strings(raw.get("action_items"), 8)],
        "key_points": _strings(raw.get("key_points"), 6),
    }, priced


def analysis_model_for(session: ChatSession) -> AIModel:
    return indexing.conversation_settings().analysis_model or session.assistant.model


def conversation_analyze(
    *, session: ChatSession, organization, user=None
) -> ConversationAnalysis | None:
    """Analyse ``session`` and store a new version; None for a conversation with no text."""
    require_tenant_schema()
    messages = _messages(session)
    if not messages:
        return None
    model = analysis_model_for(session)
    fields, method, label = None, "local", LOCAL_MODEL_LABEL
    tokens, cost = 0, Decimal("0")
    if model.answer_mode != AnswerMode.EXTRACTIVE:
        context = gateway.UsageContext(
            organization=organization,
            user=user,
            assistant_id=session.assistant_id,
            channel=Channel.SYSTEM,
        )
        try:
            fields, priced = model_analysis(messages, model, context)
            method, label = "model", priced.model.key
            tokens, cost = priced.result.usage.total_tokens, priced.cost
        except (ProviderError, ValueError) as error:
            # The model failed or did not answer with the JSON asked for: the local
            # methods still give an analysis, and it says which it is.
            logger.warning("analysis by %s failed (%s); local methods used", model.key, error)
    if fields is None:
        fields = local_analysis(messages)
    with transaction.atomic():
        ChatSession.objects.select_for_update().filter(pk=session.pk).first()
        latest = session.analyses.aggregate(v=Max("version"))["v"] or 0
        analysis = ConversationAnalysis.objects.create(
            session=session,
            version=latest + 1,
            method=method,
            model=label,
            total_tokens=tokens,
            cost=cost,
            messages_analyzed=len(messages),
            **fields,
        )
        events.event_emit(
            type="conversation.analyzed",
            payload={
                "session_id": str(session.pk),
                "analysis_id": str(analysis.pk),
                "version": analysis.version,
            },
        )
    return analysis


def conversation_analyze_by_id(*, session_id, organization) -> ConversationAnalysis | None:
    session = ChatSession.objects.select_related("assistant__model").filter(pk=session_id).first()
    if session is None:
        return None
    return conversation_analyze(session=session, organization=organization)


def sessions_to_analyze_after_import(*, import_id) -> list:
    job = ConversationImport.objects.filter(pk=import_id).first()
    if job is None:
        return []
    return [r["session_id"] for r in job.results if r.get("added")]


def analysis_estimate(*, sessions) -> dict:
    """What analysing ``sessions`` would cost, before running it: tokens of their
    transcripts (capped as a run caps them) priced at each model's catalog price."""
    tokens_in, cost = 0, Decimal("0")
    models = set()
    for session in sessions:
        model = analysis_model_for(session)
        text = "\n".join(m.content for m in _messages(session))
        prompt = min(count_tokens(text[:MAX_LOCAL_CHARS]), MAX_TRANSCRIPT_TOKENS) + 200
        if model.answer_mode == AnswerMode.EXTRACTIVE:
            models.add(LOCAL_MODEL_LABEL)
            continue
        models.add(model.key)
        tokens_in += prompt
        cost += (
            Decimal(prompt) * model.input_price_per_million
            + Decimal(900) * model.output_price_per_million
        ) / Decimal(1_000_000)
    return {
        "conversations": len(sessions),
        "prompt_tokens": tokens_in,
        "cost": cost.quantize(Decimal("0.000001")),
        "models": sorted(models),
    }


def action_items_tick(*, analysis: ConversationAnalysis, done: set[int]) -> ConversationAnalysis:
    """Mark the action items at positions ``done`` as done and the others as not."""
    analysis.action_items = [
        {**item, "done": position in done} for position, item in enumerate(analysis.action_items)
    ]
    analysis.save(update_fields=["action_items"])
    return analysis

"""Offline extractive responder (provider "local", model "extractive").

Answers from the knowledge-base sources alone by picking the sentences that share the
most (IDF-weighted) words with the question. No model, no network: it lets the platform
work without any AI credentials, and it says so in every answer so nobody mistakes it for
an LLM.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from ._common import prompt_text
from .base import (
    ROLE_USER,
    ChatProvider,
    ChatRequest,
    ChatResult,
    EmbeddingResult,
    Finish,
    Source,
    StreamEvent,
    TextDelta,
    Usage,
    UsageEvent,
    VerifyResult,
)
from .errors import InvalidRequest
from .tokens import count_tokens

PROVIDER = "local"
MODEL = "extractive"
LABEL = "Extractive answer (quoted from the knowledge base; no AI model was used):"
NOTHING_FOUND = (
    "Extractive answer (no AI model was used): nothing relevant to your question "
    "was found in the knowledge base."
)
MAX_SENTENCES = 4
RELATIVE_CUTOFF = 0.5  # keep sentences scoring at least half the best one

_WORD = re.compile(r"\w+", re.UNICODE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
# fmt: off
_STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "could", "did", "do",
    "does", "for", "from", "had", "has", "have", "how", "i", "if", "in", "into", "is", "it",
    "its", "me", "my", "no", "not", "of", "on", "or", "our", "so", "than", "that", "the", "their",
    "them", "then", "there", "these", "they", "this", "to", "was", "we", "were", "what", "when",
    "where", "which", "who", "whom", "why", "will", "with", "would", "you", "your", "yours",
    "about", "any", "all", "also", "just", "more", "most", "some", "such", "tell", "please",
})
# fmt: on


def _stem(word: str) -> str:
    # Crude plural folding so "refunds" matches "refund"; both sides use the same rule.
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def terms(text: str) -> set[str]:
    words = (w.lower() for w in _WORD.findall(text))
    return {_stem(w) for w in words if w not in _STOPWORDS and (len(w) > 1 or w.isdigit())}


@dataclass(frozen=True)
class Passage:
    source: Source
    position: int
    sentence: str
    terms: frozenset[str]


# A single line break inside a paragraph is wrapping, not the end of a sentence
# (Markdown and PDF text are hard-wrapped); list items keep their own lines.
_SOFT_BREAK = re.compile(r"(?<!\n)\n(?![\n\-*•]|\d+[.)]\s)")


def split_sentences(text: str) -> list[str]:
    text = _SOFT_BREAK.sub(" ", text)
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def _passages(sources: list[Source]) -> list[Passage]:
    return [
        Passage(source, pos, sentence, frozenset(terms(sentence)))
        for source in sources
        for pos, sentence in enumerate(split_sentences(source.text))
    ]


def rank(question: str, sources: list[Source], limit: int = MAX_SENTENCES) -> list[Passage]:
    """The most relevant sentences, best first; empty when nothing overlaps.

    A sentence is kept if it scores close to the best one, or if it covers a question
    word that no kept sentence covers yet (so "shipping cost and refunds?" gets both
    topics, while a sentence sharing one incidental word with the question is dropped).
    """
    wanted = terms(question)
    passages = _passages(sources)
    if not wanted or not passages:
        return []
    # Rare words say more about relevance than words found in every sentence.
    df = {t: sum(1 for p in passages if t in p.terms) for t in wanted}
    idf = {t: math.log(1 + len(passages) / df[t]) for t in wanted if df[t]}
    # Sources arrive in retrieval order: a mild prior for the better-ranked ones
    # breaks ties that word overlap alone gets wrong.
    scored = [
        (sum(idf.get(t, 0.0) for t in wanted & p.terms) * (1 + 1 / (1 + p.source.index)), p)
        for p in passages
    ]
    relevant = sorted(
        ((score, p) for score, p in scored if score > 0),
        key=lambda item: (-item[0], item[1].source.index, item[1].position),
    )
    if not relevant:
        return []
    best = relevant[0][0]
    chosen: list[Passage] = []
    covered: set[str] = set()
    for score, passage in relevant:
        matched = wanted & passage.terms
        if score >= RELATIVE_CUTOFF * best or matched - covered:
            chosen.append(passage)
            covered |= matched
        if len(chosen) == limit:
            break
    return chosen


def _citation(source: Source) -> str:
    page = f", p. {source.page}" if source.page is not None else ""
    return f"[{source.index}] {source.title}{page}"


def compose(question: str, sources: list[Source], max_tokens: int | None = None) -> tuple[str, str]:
    """(answer text, finish reason)."""
    picked = rank(question, sources)
    if not picked:
        return NOTHING_FOUND, "stop"
    # Present in reading order so the quotes flow like the documents they come from.
    picked.sort(key=lambda p: (p.source.index, p.position))
    lines: list[str] = []
    finish = "stop"
    for passage in picked:
        line = f"- {passage.sentence} [{passage.source.index}]"
        if max_tokens and lines and count_tokens("\n".join([*lines, line])) > max_tokens:
            finish = "length"
            break
        lines.append(line)
    cited = sorted({p.source.index: p.source for p in picked[: len(lines)]}.items())
    footer = "Sources: " + "; ".join(_citation(source) for _, source in cited)
    return "\n".join([LABEL, *lines, "", footer]), finish


def last_user_message(request: ChatRequest) -> str:
    for message in reversed(request.messages):
        if message.role == ROLE_USER:
            return message.content
    return ""


def _words(text: str) -> list[str]:
    return re.findall(r"\s*\S+\s*", text)


class LocalExtractiveProvider(ChatProvider):
    name = PROVIDER

    def _answer(self, request: ChatRequest) -> ChatResult:
        text, finish = compose(last_user_message(request), request.sources, request.max_tokens)
        # The system prompt cannot steer an extractive answer, but it is still "input".
        prompt = prompt_text(request) + "\n" + "\n".join(s.text for s in request.sources)
        usage = Usage.of(count_tokens(prompt), count_tokens(text), estimated=True)
        return ChatResult(text, usage, finish, MODEL, PROVIDER)

    def _complete_once(self, request: ChatRequest) -> ChatResult:
        return self._answer(request)

    def _stream_once(self, request: ChatRequest) -> Iterator[StreamEvent]:
        result = self._answer(request)
        for chunk in _words(result.text):
            yield TextDelta(chunk)
        yield UsageEvent(result.usage)
        yield Finish(result.finish_reason)

    async def _astream_once(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        # Composing takes 1-2 ms (six sources, ~10 kB): done on the loop, as a thread hop
        # would cost about as much as it saves.
        result = self._answer(request)
        for chunk in _words(result.text):
            yield TextDelta(chunk)
            # Let the loop serve other streams between words, as a network stream would.
            await asyncio.sleep(0)
        yield UsageEvent(result.usage)
        yield Finish(result.finish_reason)

    def _embed_once(self, model: str, texts: list[str]) -> EmbeddingResult:
        # Imported here: onnxruntime loads only in processes that embed.
        from .local_embedder import LocalEmbedder, get_local_embedder

        if model != LocalEmbedder.model_id:
            raise InvalidRequest(
                f"The local provider embeds with {LocalEmbedder.model_id!r} only, not {model!r}."
            )
        result = get_local_embedder().embed(texts)
        return EmbeddingResult(result.as_lists(), Usage.of(result.prompt_tokens, 0), model)

    def _verify_once(self) -> VerifyResult:
        # Nothing to check: both local components run in-process without any key.
        return VerifyResult(
            ok=True,
            message=(
                "Local provider: the local extractive responder and the local embedder "
                "need no credentials."
            ),
            models=[MODEL],
        )

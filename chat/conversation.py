"""Pure conversation logic: history within a token budget, standalone retrieval
queries for follow-ups, the prompt with numbered sources, and citations.

No database and no provider here, so each rule is tested on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from assistants.providers.base import ChatMessage, Source
from assistants.providers.tokens import count_tokens

# Tokens kept free for the answer and for per-message overhead of chat formats.
PER_MESSAGE_OVERHEAD = 4

CITATION_INSTRUCTIONS = (
    "Answer using the numbered sources below. Cite every claim with the number of its "
    "source in square brackets, like [1] or [2][3]. If the sources do not contain the "
    "answer, say that you could not find it in the knowledge base; do not invent facts."
)


@dataclass(frozen=True)
class HistoryTurn:
    role: str
    content: str


def history_within_budget(turns: list[HistoryTurn], budget_tokens: int) -> list[ChatMessage]:
    """The most recent turns that fit in ``budget_tokens``, oldest dropped first.

    A turn is never cut in half, and the result always starts with a user turn
    (providers such as Anthropic reject a conversation opening with the assistant).
    """
    kept: list[HistoryTurn] = []
    used = 0
    for turn in reversed(turns):
        cost = count_tokens(turn.content) + PER_MESSAGE_OVERHEAD
        if used + cost > budget_tokens:
            break
        kept.append(turn)
        used += cost
    kept.reverse()
    while kept and kept[0].role != "user":
        kept.pop(0)
    return [ChatMessage(t.role, t.content) for t in kept]


# -- standalone retrieval query -------------------------------------------------

_FOLLOW_UP_OPENERS = re.compile(
    r"^(and|but|so|also|what about|how about|why|how come|then|ok|okay)\b", re.IGNORECASE
)
_REFERRING_WORDS = re.compile(
    r"\b(it|its|this|that|these|those|they|them|their|he|she|his|her|there|one|ones|same|"
    r"above|former|latter)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"\w+")
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "is",
        "are",
        "was",
        "were",
        "be",
        "do",
        "does",
        "did",
        "how",
        "what",
        "why",
        "when",
        "where",
        "which",
        "who",
        "can",
        "could",
        "would",
        "should",
        "will",
        "i",
        "you",
        "we",
        "me",
        "my",
        "your",
        "our",
        "of",
        "to",
        "in",
        "on",
        "for",
        "with",
        "and",
        "or",
        "but",
        "so",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "they",
        "them",
        "their",
        "about",
        "please",
        "tell",
        "more",
        "explain",
        "work",
        "works",
    ]
)


def is_follow_up(message: str) -> bool:
    """A question that leans on the conversation: refers back, or says too little alone."""
    content_words = [w for w in _WORD.findall(message.lower()) if w not in _STOPWORDS]
    return bool(
        _FOLLOW_UP_OPENERS.search(message.strip())
        or _REFERRING_WORDS.search(message)
        or len(content_words) < 2
    )


def rule_based_query(message: str, previous_user_messages: list[str]) -> str:
    """Offline rewrite: a follow-up is searched together with the last question.

    "How does it work?" after "What is the refund policy?" searches for
    "What is the refund policy? How does it work?", which retrieves the policy.
    """
    if not previous_user_messages or not is_follow_up(message):
        return message
    return f"{previous_user_messages[-1]} {message}"


REWRITE_INSTRUCTIONS = (
    "Rewrite the user's last message as one standalone search query that includes every "
    "subject it refers to from the conversation. Answer with the query only."
)


# -- prompt and citations -------------------------------------------------------


@dataclass(frozen=True)
class RetrievedSource:
    index: int
    chunk_id: int
    document_id: str
    document_title: str
    page: int | None
    section: str
    score: float
    text: str
    # Set for a passage of a file attached to the conversation (chat/attachments.py).
    file_id: str = ""
    # With a reranker on the assistant (ADR 0100): whether it reordered the passages
    # (False: it failed and the fused order was kept) and its score; None without one.
    reranked: bool | None = None
    rerank_score: float | None = None
    # Parent-child collections (ADR 0103): the section the chunk was cut from, which the
    # model reads instead of the chunk when the context has room (``with_parent_sections``),
    # and the other retrieved chunks of that section it then stands for.
    parent_id: int | None = None
    parent_text: str = ""
    parent_used: bool = False
    merged_chunk_ids: tuple[int, ...] = ()

    @classmethod
    def of_hit(cls, index: int, hit, *, reranked: bool | None = None, sections: bool = True):
        """A knowledge-base hit as the turn's source ``index``; ``sections=False`` leaves
        out its parent section (the chunk alone)."""
        parent = hit.parent if sections else None
        return cls(
            index=index,
            chunk_id=hit.chunk_id,
            document_id=hit.document_id,
            document_title=hit.document_title,
            page=hit.page,
            section=hit.section,
            score=hit.score,
            text=hit.text,
            reranked=reranked,
            rerank_score=hit.rerank_score,
            parent_id=parent.id if parent is not None else None,
            parent_text=parent.text if parent is not None else "",
        )

    def as_provider_source(self) -> Source:
        return Source(index=self.index, title=self.document_title, text=self.text, page=self.page)


def with_parent_sections(
    sources: list[RetrievedSource], budget_tokens: int
) -> list[RetrievedSource]:
    """The sources as the model should read them: each chunk's parent section instead of
    the chunk while the sources fit in ``budget_tokens``, and each section once.

    In rank order: a chunk whose section is already a source adds nothing but its chunk
    id to that source (the model reads the section once); a section that no longer fits
    leaves its chunk as it was. Numbers are given again from the first source's, so
    they stay consecutive."""
    kept: list[RetrievedSource] = []
    by_parent: dict[int, int] = {}  # section id -> position in ``kept``
    used = 0
    for source in sources:
        position = by_parent.get(source.parent_id) if source.parent_id is not None else None
        if position is not None:
            holder = kept[position]
            kept[position] = replace(
                holder, merged_chunk_ids=(*holder.merged_chunk_ids, source.chunk_id)
            )
            continue
        text, parent_used = source.text, False
        if source.parent_id is not None and source.parent_text:
            cost = count_tokens(source.parent_text)
            if used + cost <= budget_tokens:
                text, parent_used = source.parent_text, True
                by_parent[source.parent_id] = len(kept)
        used += count_tokens(text)
        kept.append(replace(source, text=text, parent_used=parent_used))
    first = sources[0].index if sources else 1
    return [replace(source, index=first + n) for n, source in enumerate(kept)]


def system_prompt(instructions: str, sources: list[RetrievedSource]) -> str:
    parts = [instructions.strip()] if instructions.strip() else []
    if sources:
        parts.append(CITATION_INSTRUCTIONS)
        blocks = []
        for source in sources:
            where = source.document_title
            if source.page:
                where += f", page {source.page}"
            if source.section:
                where += f", section “{source.section}”"
            blocks.append(f"[{source.index}] ({where})\n{source.text}")
        parts.append("Sources:\n\n" + "\n\n".join(blocks))
    else:
        parts.append(
            "No knowledge-base passage matched this question. Say so if you cannot answer "
            "from general knowledge, and never invent sources."
        )
    return "\n\n".join(parts)


_CITATION = re.compile(r"\[(\d{1,3})\]")


def cited_indexes(answer: str, available: int) -> list[int]:
    """Source numbers cited in the answer, in order of first appearance."""
    seen: list[int] = []
    for match in _CITATION.finditer(answer):
        number = int(match.group(1))
        if 1 <= number <= available and number not in seen:
            seen.append(number)
    return seen


def title_from_message(message: str, limit: int = 60) -> str:
    """A session title from its first message: the first line, cut at a word."""
    line = message.strip().splitlines()[0] if message.strip() else "New chat"
    if len(line) <= limit:
        return line
    cut = line[:limit].rsplit(" ", 1)[0]
    return (cut or line[:limit]) + "…"

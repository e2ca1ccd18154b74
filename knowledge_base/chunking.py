"""Split an `ExtractedDocument` into token-bounded chunks for embedding and retrieval.

Django-free on purpose (plain functions and dataclasses).

Rules, in order of preference:

1. A chunk never spans two headings or two pages: every change of `Section.heading` or of
   `Section.page` starts a new chunk (so a PDF citation names the one page it quotes).
2. Within one heading, pieces are packed greedily up to `chunk_size` tokens, breaking
   between paragraphs when possible, else between sentences (or lines), and only when a
   single sentence is larger than a chunk, between words, then grapheme clusters.
3. Consecutive chunks of the same heading overlap by about `overlap` tokens (never more than
   1.5x), copied from the end of the previous chunk at sentence boundaries when possible.

Guarantees: no empty or whitespace-only chunk; `token_count` is the real count of the
chunk's text and never exceeds `chunk_size`; text is never cut inside a grapheme cluster (a
lone cluster larger than a whole chunk, which needs hundreds of combining marks, is the only
exception); dropping each chunk's first `metadata["overlap_chars"]` characters and joining
them gives back all the document's text (up to whitespace). Output is deterministic.

Cost is linear: each sentence is counted once and chunk sizes are planned from the sums;
each finished chunk is counted once more to report (and guarantee) its exact size.

Parent-child chunking (`chunk_parent_child`, ADR 0103): the document is first cut into
parents of up to `parent_size` tokens by the same rules without overlap (so a parent never
spans two headings or two pages either, and parents partition the text), then each parent
into children of up to `child_size` tokens with overlap. Children are what is searched;
each names its parent (`Chunk.parent`, an index into the parents) and where its text sits
in the parent's (`metadata["parent_start"]`, `metadata["parent_end"]`, character offsets).
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from knowledge_base.extraction import ExtractedDocument, Section

TokenCounter = Callable[[str], int]

MIN_CHUNK_SIZE = 50
MAX_CHUNK_SIZE = 8000
PARAGRAPH_SEPARATOR = "\n\n"


@dataclass(frozen=True, slots=True)
class Chunk:
    index: int
    text: str
    token_count: int
    page: int | None
    section: str | None
    metadata: dict[str, Any] = field(default_factory=dict)
    # Parent-child chunking: the index of this chunk's parent among the parents.
    parent: int | None = None


@dataclass(frozen=True, slots=True)
class ParentChildChunks:
    parents: list[Chunk]  # read by the model and opened by citations; never searched
    children: list[Chunk]  # searched; each one's ``parent`` indexes ``parents``


@dataclass(frozen=True, slots=True)
class _Unit:
    """An unsplittable piece: a sentence, or a fragment of one that was too long.

    `text` keeps the whitespace that preceded it in its paragraph, so joining consecutive
    units of one paragraph restores the original text exactly.
    """

    text: str
    tokens: int
    page: int | None
    paragraph: int


@dataclass(frozen=True, slots=True)
class _Limits:
    chunk_size: int
    overlap: int
    overlap_cap: int  # hard ceiling for the copied overlap
    fragment_size: int  # granularity of hard splits, so overlaps can be taken from them
    separator_tokens: int  # cost of the blank line between two paragraphs


def chunk_document(
    doc: ExtractedDocument,
    *,
    chunk_size: int = 400,
    overlap: int = 60,
    count_tokens: TokenCounter | None = None,
) -> list[Chunk]:
    """Token-bounded chunks of `doc`, in reading order, indexed from 0."""
    validate_sizes(chunk_size, overlap)
    counter = count_tokens or _default_counter()
    limits = _Limits(
        chunk_size=chunk_size,
        overlap=overlap,
        overlap_cap=overlap * 3 // 2,
        fragment_size=max(16, chunk_size // 8),
        separator_tokens=counter(PARAGRAPH_SEPARATOR),
    )
    chunks: list[Chunk] = []
    paragraph_ids = itertools.count()
    for (heading, _page), run in itertools.groupby(
        doc.sections, key=lambda section: (section.heading, section.page)
    ):
        units = _units(run, counter, limits, paragraph_ids)
        for packed in _Packer(units, counter, limits).chunks():
            chunks.append(_make_chunk(len(chunks), packed, heading))
    return chunks


def chunk_parent_child(
    doc: ExtractedDocument,
    *,
    parent_size: int = 1200,
    child_size: int = 200,
    overlap: int = 30,
    count_tokens: TokenCounter | None = None,
) -> ParentChildChunks:
    """Parents of up to `parent_size` tokens (no overlap, within one heading and page),
    and children of up to `child_size` tokens cut from each parent, in reading order."""
    validate_sizes(child_size, overlap)
    validate_sizes(parent_size, 0)
    if parent_size <= child_size:
        raise ValueError(
            f"parent_size ({parent_size}) must be larger than child_size ({child_size})"
        )
    counter = count_tokens or _default_counter()
    parents = chunk_document(doc, chunk_size=parent_size, overlap=0, count_tokens=counter)
    children: list[Chunk] = []
    for parent in parents:
        # The parent's own text, re-split: its paragraphs are separated as the chunker
        # renders them, so each child's text is a substring of the parent's.
        inner = ExtractedDocument(
            title=doc.title, sections=[Section(parent.text, parent.page, parent.section)]
        )
        cursor = 0
        for child in chunk_document(
            inner, chunk_size=child_size, overlap=overlap, count_tokens=counter
        ):
            start = parent.text.find(child.text, cursor)
            if start < 0:  # never expected; the citation then shows the parent unmarked
                span: dict[str, Any] = {"parent_start": None, "parent_end": None}
            else:
                span = {"parent_start": start, "parent_end": start + len(child.text)}
                cursor = start + 1  # the next child starts after this one's start
            children.append(
                Chunk(
                    index=len(children),
                    text=child.text,
                    token_count=child.token_count,
                    page=parent.page,
                    section=parent.section,
                    metadata={**child.metadata, "page_end": parent.metadata["page_end"], **span},
                    parent=parent.index,
                )
            )
    return ParentChildChunks(parents=parents, children=children)


def validate_sizes(chunk_size: int, overlap: int) -> None:
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError(
            f"chunk_size must be between {MIN_CHUNK_SIZE} and {MAX_CHUNK_SIZE} tokens, "
            f"got {chunk_size}"
        )
    if not 0 <= overlap < chunk_size // 2:
        raise ValueError(
            f"overlap must be at least 0 and less than half of chunk_size "
            f"({chunk_size // 2}), got {overlap}"
        )


def _default_counter() -> TokenCounter:
    # Imported lazily: it loads the BPE tables, which callers injecting a counter don't need.
    from assistants.providers.tokens import count_tokens

    return count_tokens


# --------------------------------------------------------------------------- splitting

_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n\s*")
# Where a sentence ends: Western terminators need following whitespace ("3.14", "e.g.x" stay
# whole); CJK ones don't. Possessive quantifiers plus the look-behind keep long runs of dots
# (tables of contents) linear. A newline also ends a sentence (lists, table rows, verse).
# Terminators: . ! ? and the ellipsis, Arabic question mark, Devanagari danda; CJK full stop,
# fullwidth ! and ?, halfwidth full stop. Closers: quotes, guillemet, brackets, CJK quotes.
_WESTERN_END = r".!?\u2026\u061f\u0964"
_CJK_END = r"\u3002\uff01\uff1f\uff61"
_CLOSERS = r"\"'\u201d\u2019\u00bb)\]\u300d\u300f"
_SENTENCE_END = re.compile(
    rf"(?<![{_WESTERN_END}])[{_WESTERN_END}]++[{_CLOSERS}]*+(?=\s|\Z)"
    rf"|(?<![{_CJK_END}])[{_CJK_END}]++[{_CLOSERS}]*+"
    r"|(?=\n)"
)
_WORDS = re.compile(r"\s*\S+|\s+")


def _units(
    sections: Iterable[Section],
    counter: TokenCounter,
    limits: _Limits,
    paragraph_ids: Iterator[int],
) -> list[_Unit]:
    units: list[_Unit] = []
    for section in sections:
        for paragraph in _PARAGRAPH_BREAK.split(section.text):
            paragraph = paragraph.strip()
            if not paragraph:
                continue
            paragraph_id = next(paragraph_ids)
            for sentence in _sentences(paragraph):
                tokens = counter(sentence)
                if tokens <= limits.chunk_size:
                    units.append(_Unit(sentence, tokens, section.page, paragraph_id))
                    continue
                for text, count in _hard_split(sentence, counter, limits):
                    units.append(_Unit(text, count, section.page, paragraph_id))
    return units


def _sentences(paragraph: str) -> list[str]:
    cuts = [match.end() for match in _SENTENCE_END.finditer(paragraph)]
    bounds = zip([0, *cuts], [*cuts, len(paragraph)], strict=True)
    return _attach_blanks(paragraph[start:end] for start, end in bounds)


def _attach_blanks(pieces: Iterable[str]) -> list[str]:
    """Drop empty pieces and glue whitespace-only ones to their neighbour (text is kept)."""
    result: list[str] = []
    pending = ""
    for piece in pieces:
        if not piece:
            continue
        if piece.isspace():
            pending += piece
            continue
        result.append(pending + piece)
        pending = ""
    if pending and result:
        result[-1] += pending
    return result


def _finer(text: str) -> list[str]:
    """The next smaller pieces of `text`: words, then groups of graphemes, then graphemes."""
    words = _attach_blanks(_WORDS.findall(text))
    if len(words) > 1:
        return words
    clusters = graphemes(text)
    if len(clusters) > 16:
        # Counting every cluster of a huge unbroken string separately costs a call each.
        return ["".join(clusters[start : start + 8]) for start in range(0, len(clusters), 8)]
    if len(clusters) > 1:
        return clusters
    return list(text)  # a single monstrous cluster: size wins over cluster integrity


def _hard_split(sentence: str, counter: TokenCounter, limits: _Limits) -> list[tuple[str, int]]:
    """Fragments of about `fragment_size` tokens, cut between words (or graphemes).

    Fragments are sums of separately counted pieces; that may overestimate (never matters)
    and rarely underestimate (caught by the exact recount of each finished chunk).
    """
    fragments: list[tuple[str, int]] = []
    parts: list[str] = []
    total = 0
    for piece in _finer(sentence):
        tokens = counter(piece)
        if tokens > limits.fragment_size:
            if parts:
                fragments.append(("".join(parts), total))
                parts, total = [], 0
            if tokens > limits.chunk_size and len(piece) > 1:
                fragments.extend(_hard_split(piece, counter, limits))
            else:
                fragments.append((piece, tokens))
            continue
        if parts and total + tokens > limits.fragment_size:
            fragments.append(("".join(parts), total))
            parts, total = [], 0
        parts.append(piece)
        total += tokens
    if parts:
        fragments.append(("".join(parts), total))
    return fragments


def graphemes(text: str) -> list[str]:
    """Extended grapheme clusters (what a reader sees as one character)."""
    try:
        import regex
    except ImportError:  # regex comes with tiktoken; keep a rough fallback regardless
        return _graphemes_fallback(text)
    return regex.findall(r"\X", text)


def _graphemes_fallback(text: str) -> list[str]:
    clusters: list[str] = []
    for char in text:
        joins = clusters and (
            unicodedata.combining(char)
            or unicodedata.category(char) in ("Mn", "Me", "Mc")
            or char in "\u200d\ufe0e\ufe0f"
            or "\U0001f3fb" <= char <= "\U0001f3ff"  # skin tone modifiers
            or clusters[-1].endswith("\u200d")
        )
        if joins:
            clusters[-1] += char
        else:
            clusters.append(char)
    return clusters


# --------------------------------------------------------------------------- packing


@dataclass(frozen=True, slots=True)
class _Packed:
    overlap: tuple[_Unit, ...]
    body: tuple[_Unit, ...]
    text: str
    tokens: int


class _Packer:
    """Greedy packing of one heading's units into chunks, with overlaps between them."""

    def __init__(self, units: list[_Unit], counter: TokenCounter, limits: _Limits) -> None:
        self._units = units
        self._count = counter
        self._limits = limits
        self._paragraph_tokens: dict[int, int] = {}
        for unit in units:
            self._paragraph_tokens[unit.paragraph] = (
                self._paragraph_tokens.get(unit.paragraph, 0) + unit.tokens
            )

    def chunks(self) -> Iterator[_Packed]:
        position = 0
        seed: list[_Unit] = []
        while position < len(self._units):
            seed, body = self._fill(seed, position)
            packed = self._finish(seed, body, position)
            position += len(packed.body)
            yield packed
            seed = self._overlap_after(list(packed.body))

    def _cost(self, units: Sequence[_Unit]) -> int:
        breaks = sum(1 for a, b in itertools.pairwise(units) if a.paragraph != b.paragraph)
        return sum(unit.tokens for unit in units) + breaks * self._limits.separator_tokens

    def _fill(self, seed: list[_Unit], position: int) -> tuple[list[_Unit], list[_Unit]]:
        size = self._limits.chunk_size
        body: list[_Unit] = []
        used = self._cost(seed)
        while position + len(body) < len(self._units):
            unit = self._units[position + len(body)]
            previous = body[-1] if body else (seed[-1] if seed else None)
            joint = (
                self._limits.separator_tokens
                if previous and previous.paragraph != unit.paragraph
                else 0
            )
            if used + joint + unit.tokens > size:
                if body:
                    break
                if not seed:  # a unit larger than a chunk; the recount in _finish splits it
                    body.append(unit)
                    break
                seed = seed[1:]  # give up some overlap rather than stall
                used = self._cost(seed)
                continue
            if (
                body
                and unit.paragraph != body[-1].paragraph
                and self._break_before(unit, used, seed)
            ):
                break
            body.append(unit)
            used += joint + unit.tokens
        return seed, body

    def _break_before(self, unit: _Unit, used: int, seed: list[_Unit]) -> bool:
        """At a paragraph start: stop here rather than split the paragraph across chunks?"""
        limits = self._limits
        paragraph = self._paragraph_tokens[unit.paragraph]
        if used + limits.separator_tokens + paragraph <= limits.chunk_size:
            return False  # it fits whole
        fits_next_chunk = (
            paragraph + limits.overlap_cap + limits.separator_tokens <= limits.chunk_size
        )
        body_tokens = used - self._cost(seed)
        return fits_next_chunk or body_tokens >= limits.chunk_size // 4

    def _finish(self, seed: list[_Unit], body: list[_Unit], position: int) -> _Packed:
        """Exact recount; trims (or splits) in the rare case the planned sum was too low."""
        while True:
            text = _render([*seed, *body])
            tokens = self._count(text)
            if tokens <= self._limits.chunk_size:
                return _Packed(tuple(seed), tuple(body), text, tokens)
            if len(body) > 1:
                body = body[:-1]
            elif seed:
                seed = seed[1:]
            else:
                body = [self._split_in_place(position)]

    def _split_in_place(self, position: int) -> _Unit:
        """Replace an oversized unit by two halves (word/grapheme aligned); return the first."""
        unit = self._units[position]
        pieces = _finer(unit.text)
        if len(pieces) < 2:
            raise ValueError("token counter reports a single character above chunk_size")
        middle = len(pieces) // 2
        halves = ["".join(pieces[:middle]), "".join(pieces[middle:])]
        replacement = [_Unit(half, self._count(half), unit.page, unit.paragraph) for half in halves]
        self._units[position : position + 1] = replacement
        return replacement[0]

    def _overlap_after(self, body: list[_Unit]) -> list[_Unit]:
        """Trailing sentences of the finished chunk to repeat at the start of the next one."""
        limits = self._limits
        if limits.overlap == 0 or not body:
            return []
        taken: list[_Unit] = []
        total = 0
        # Never repeat the first unit: the next chunk must not contain the whole previous one.
        for unit in reversed(body[1:]):
            if total + unit.tokens > limits.overlap_cap or total >= limits.overlap:
                break
            taken.append(unit)
            total += unit.tokens
        if total < limits.overlap // 2:
            # The nearest sentence is too long to repeat whole: take its last words instead.
            source = body[len(body) - len(taken) - 1]
            tail = self._tail(source, limits.overlap - total)
            if tail is not None:
                taken.append(tail)
        taken.reverse()
        return taken

    def _tail(self, unit: _Unit, budget: int) -> _Unit | None:
        pieces = _finer(unit.text)
        kept: list[str] = []
        total = 0
        for piece in reversed(pieces[1:]):  # a proper suffix, never the whole unit
            tokens = self._count(piece)
            if total + tokens > budget:
                break
            kept.append(piece)
            total += tokens
        if not kept:
            return None
        text = "".join(reversed(kept))
        return _Unit(text, total, unit.page, unit.paragraph)


def _render(units: Sequence[_Unit]) -> str:
    parts: list[str] = []
    previous: _Unit | None = None
    for unit in units:
        if previous is None:
            parts.append(unit.text.lstrip())
        elif unit.paragraph != previous.paragraph:
            parts.append(PARAGRAPH_SEPARATOR)
            parts.append(unit.text.lstrip())
        else:
            parts.append(unit.text)
        previous = unit
    return "".join(parts).rstrip()


def _make_chunk(index: int, packed: _Packed, heading: str | None) -> Chunk:
    units = [*packed.overlap, *packed.body]
    pages = [unit.page for unit in units if unit.page is not None]
    overlap_text = _render(packed.overlap)
    metadata: dict[str, Any] = {
        "heading": heading,
        "page_end": pages[-1] if pages else None,
        # The chunk's first overlap_chars characters repeat the end of the previous chunk.
        "overlap_chars": len(overlap_text),
        "overlap_tokens": sum(unit.tokens for unit in packed.overlap),
    }
    return Chunk(
        index=index,
        text=packed.text,
        token_count=packed.tokens,
        page=units[0].page,
        section=heading,
        metadata=metadata,
    )

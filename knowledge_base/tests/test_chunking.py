"""Chunker properties (no database, no network; tiktoken runs from bundled BPE files)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistants.providers.tokens import count_tokens
from knowledge_base.chunking import (
    Chunk,
    chunk_document,
    chunk_parent_child,
    graphemes,
    validate_sizes,
)
from knowledge_base.extraction import ExtractedDocument, Section

PROPERTY_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def doc(*sections: Section) -> ExtractedDocument:
    return ExtractedDocument(title=None, sections=list(sections))


def squash(text: str) -> str:
    return "".join(text.split())


def new_text(chunk: Chunk) -> str:
    """The part of a chunk that is not repeated from the previous one."""
    return chunk.text[chunk.metadata["overlap_chars"] :]


def assert_invariants(
    document: ExtractedDocument,
    chunks: list[Chunk],
    chunk_size: int,
    overlap: int,
    counter: Callable[[str], int] = count_tokens,
) -> None:
    assert [chunk.index for chunk in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert chunk.text.strip(), "empty chunk"
        assert chunk.text == chunk.text.strip()
        assert chunk.token_count == counter(chunk.text) <= chunk_size
        assert chunk.metadata["overlap_tokens"] <= overlap * 3 // 2
        assert chunk.section == chunk.metadata["heading"]
    for previous, chunk in itertools.pairwise(chunks):
        repeated = chunk.text[: chunk.metadata["overlap_chars"]]
        assert previous.text.endswith(repeated)
        if chunk.section != previous.section:
            assert repeated == ""
    # Nothing lost, nothing invented, in order: the new parts re-assemble the document.
    assert squash("".join(new_text(chunk) for chunk in chunks)) == squash(
        "".join(section.text for section in document.sections)
    )


def paragraph(words: int, seed: int = 0, sentence_words: int = 12) -> str:
    vocabulary = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    out = []
    for position in range(words):
        word = vocabulary[(position * 7 + seed) % len(vocabulary)]
        end = ". " if position % sentence_words == sentence_words - 1 else " "
        out.append(word + end)
    return "".join(out).strip()


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("chunk_size", "overlap"), [(49, 0), (8001, 0), (100, -1), (100, 50), (100, 60)]
)
def test_invalid_sizes_are_rejected(chunk_size: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        chunk_document(doc(Section("text")), chunk_size=chunk_size, overlap=overlap)


@pytest.mark.parametrize(("chunk_size", "overlap"), [(50, 0), (50, 24), (8000, 3999), (400, 60)])
def test_boundary_sizes_are_accepted(chunk_size: int, overlap: int) -> None:
    validate_sizes(chunk_size, overlap)


def test_empty_document_has_no_chunks() -> None:
    assert chunk_document(doc()) == []
    assert chunk_document(doc(Section("   \n\n  "), Section(""))) == []


# --------------------------------------------------------------------------- structure


def test_short_document_is_one_chunk_with_exact_text() -> None:
    document = doc(Section("Hello world.\nSecond line.", page=4, heading="Intro"))
    [chunk] = chunk_document(document)
    assert chunk.text == "Hello world.\nSecond line."
    assert (chunk.page, chunk.section, chunk.token_count) == (4, "Intro", count_tokens(chunk.text))
    assert chunk.metadata == {
        "heading": "Intro",
        "page_end": 4,
        "overlap_chars": 0,
        "overlap_tokens": 0,
    }


def test_headings_start_new_chunks() -> None:
    document = doc(
        Section("Short intro.", heading="A"),
        Section("More about A.", heading="A"),
        Section("Short part B.", heading="A > B"),
        Section("Back to A again.", heading="A"),
    )
    chunks = chunk_document(document, chunk_size=400)
    assert [(chunk.section, chunk.text) for chunk in chunks] == [
        ("A", "Short intro.\n\nMore about A."),
        ("A > B", "Short part B."),
        ("A", "Back to A again."),
    ]
    assert all(chunk.metadata["overlap_chars"] == 0 for chunk in chunks)


def page_text(page: int, sentences: int = 30) -> str:
    return " ".join(
        f"Page{page} sentence{n} has unique words p{page}s{n}." for n in range(sentences)
    )


def test_page_and_section_are_carried() -> None:
    document = doc(
        Section(page_text(1), page=1, heading="Chapter 1"),
        Section(page_text(2), page=2, heading="Chapter 1"),
        Section(page_text(3), page=3, heading="Chapter 2"),
    )
    chunks = chunk_document(document, chunk_size=120, overlap=20)
    assert_invariants(document, chunks, 120, 20)

    assert chunks[0].page == 1
    assert {chunk.page for chunk in chunks if chunk.section == "Chapter 2"} == {3}
    assert {chunk.page for chunk in chunks if chunk.section == "Chapter 1"} == {1, 2}
    for chunk in chunks:
        # The start page is the page of the chunk's first words.
        assert chunk.text.startswith(f"Page{chunk.page} ")
        assert chunk.text.split()[-1].startswith(f"p{chunk.metadata['page_end']}s")
        assert chunk.metadata["page_end"] >= chunk.page


def test_paragraph_boundaries_are_preferred() -> None:
    paragraphs = [paragraph(70, seed=n) for n in range(12)]  # about 80 tokens each
    document = doc(Section("\n\n".join(paragraphs)))
    chunks = chunk_document(document, chunk_size=200, overlap=0)
    assert_invariants(document, chunks, 200, 0)
    ends = {squash(p)[-25:] for p in paragraphs}
    for chunk in chunks:
        assert squash(chunk.text)[-25:] in ends  # every chunk ends where a paragraph ends


def test_sentence_boundaries_are_preferred_over_words() -> None:
    document = doc(Section(paragraph(2000, sentence_words=15)))
    chunks = chunk_document(document, chunk_size=100, overlap=15)
    assert_invariants(document, chunks, 100, 15)
    assert len(chunks) > 20
    for chunk in chunks[:-1]:  # the generated text itself ends mid-sentence
        assert chunk.text.endswith(".")


def test_overlap_between_consecutive_chunks_of_a_long_section() -> None:
    document = doc(Section(paragraph(3000, sentence_words=8), heading="Long"))
    chunks = chunk_document(document, chunk_size=150, overlap=30)
    assert_invariants(document, chunks, 150, 30)
    assert len(chunks) > 10
    for previous, chunk in itertools.pairwise(chunks):
        repeated = chunk.text[: chunk.metadata["overlap_chars"]]
        assert repeated, "consecutive chunks of one section must overlap"
        assert previous.text.endswith(repeated)
        assert 15 <= count_tokens(repeated) <= 45  # about `overlap`, at most 1.5x
        assert repeated.endswith(".")  # taken at sentence boundaries


def test_no_overlap_when_disabled() -> None:
    document = doc(Section(paragraph(2000)))
    chunks = chunk_document(document, chunk_size=100, overlap=0)
    assert all(chunk.metadata["overlap_chars"] == 0 for chunk in chunks)
    assert squash("".join(chunk.text for chunk in chunks)) == squash(document.sections[0].text)


def test_giant_sentence_without_punctuation_is_hard_split() -> None:
    words = " ".join(f"word{n % 97}" for n in range(5000))
    document = doc(Section(words, page=9, heading="Blob"))
    started = time.perf_counter()
    chunks = chunk_document(document, chunk_size=300, overlap=40)
    assert time.perf_counter() - started < 5
    assert_invariants(document, chunks, 300, 40)

    total = count_tokens(words)
    assert len(chunks) >= total // 300
    assert all(chunk.token_count >= 150 for chunk in chunks[:-1])  # well filled, not shredded
    assert all(chunk.page == 9 and chunk.section == "Blob" for chunk in chunks)
    for chunk in chunks:  # cut between words, never inside one
        assert chunk.text.split()[0] in words.split()
        assert chunk.text.split()[-1] in words.split()
        assert chunk.metadata["overlap_chars"] > 0 or chunk.index == 0


def test_huge_word_without_spaces_is_split_within_bounds() -> None:
    blob = "QmFzZTY0IGRhdGEg" * 2000  # e.g. an inline base64 image
    document = doc(Section(blob))
    chunks = chunk_document(document, chunk_size=100, overlap=10)
    assert_invariants(document, chunks, 100, 10)
    assert len(chunks) > 10


# --------------------------------------------------------------------------- unicode

UNICODE_TEXT = (
    "日本語の文章です。これは二番目の文です\uff01"  # fullwidth "!"
    + "東京大阪京都名古屋福岡札幌" * 40  # CJK without any punctuation or spaces
    + "\n\n"
    + "👨\u200d👩\u200d👧\u200d👦🇫🇷🇯🇵👍🏽❤\ufe0f" * 30  # ZWJ families, flags, skin tones
    + "\n\n"
    + "Cafe\u0301 cre\u0300me bru\u0302le\u0301e. " * 20  # combining accents
    + "\n\n"
    + "مرحبا بالعالم. שלום עולם. " * 20  # right-to-left scripts
)


def test_unicode_round_trip_cjk_emoji_accents_rtl() -> None:
    document = doc(Section(UNICODE_TEXT))
    chunks = chunk_document(document, chunk_size=50, overlap=10)
    assert_invariants(document, chunks, 50, 10)
    assert len(chunks) > 10

    original_clusters = set(graphemes(UNICODE_TEXT))
    for chunk in chunks:
        # A cut inside a cluster would leave a fragment ("👨\u200d", "\u0301") never seen whole.
        assert set(graphemes(chunk.text)) <= original_clusters, chunk.text
        chunk.text.encode("utf-8")  # no lone surrogates or broken characters
    assert "".join(new_text(chunk) for chunk in chunks).count("👨\u200d👩\u200d👧\u200d👦") == 30


@PROPERTY_SETTINGS
@given(
    clusters=st.lists(
        st.sampled_from(["漢", "字", "👨\u200d👩\u200d👧", "🇩🇪", "e\u0301", "👋🏿", "ש", "a"]),
        min_size=1,
        max_size=600,
    )
)
def test_unbroken_unicode_runs_are_cut_between_clusters(clusters: list[str]) -> None:
    text = "".join(clusters)
    document = doc(Section(text))
    chunks = chunk_document(document, chunk_size=50, overlap=12)
    assert_invariants(document, chunks, 50, 12)
    allowed = set(clusters)
    for chunk in chunks:
        assert set(graphemes(chunk.text)) <= allowed


# --------------------------------------------------------------------------- properties

WORDS = st.sampled_from(
    ["the", "policy", "covers", "refunds", "3.14", "e.g.", "naïve", "東京", "🙂", "مرحبا", "x" * 30]
)
SENTENCES = st.builds(
    lambda words, end: " ".join(words) + end,
    st.lists(WORDS, min_size=1, max_size=60),
    st.sampled_from([".", "!", "?", "。", "", "...", "\n"]),
)
PARAGRAPHS = st.builds(" ".join, st.lists(SENTENCES, min_size=1, max_size=8))
SECTIONS = st.builds(
    Section,
    text=st.builds("\n\n".join, st.lists(PARAGRAPHS, min_size=1, max_size=4)),
    page=st.one_of(st.none(), st.integers(1, 50)),
    heading=st.sampled_from([None, "Intro", "Intro > Details", "Appendix"]),
)


@PROPERTY_SETTINGS
@given(
    sections=st.lists(SECTIONS, max_size=6),
    chunk_size=st.integers(50, 300),
    overlap_ratio=st.floats(0, 0.49),
)
def test_chunking_properties_on_generated_documents(
    sections: list[Section], chunk_size: int, overlap_ratio: float
) -> None:
    overlap = min(int(chunk_size * overlap_ratio), chunk_size // 2 - 1)
    document = doc(*sections)
    chunks = chunk_document(document, chunk_size=chunk_size, overlap=overlap)
    assert_invariants(document, chunks, chunk_size, overlap)
    assert chunk_document(document, chunk_size=chunk_size, overlap=overlap) == chunks

    headings = {section.heading for section in sections}
    pages = {section.page for section in sections}
    for chunk in chunks:
        assert chunk.section in headings
        assert chunk.page in pages


@PROPERTY_SETTINGS
@given(text=st.text(min_size=1, max_size=3000))
def test_arbitrary_text_never_breaks_the_invariants(text: str) -> None:
    document = doc(Section(text))
    chunks = chunk_document(document, chunk_size=50, overlap=10)
    assert_invariants(document, chunks, 50, 10)


def words_counter(text: str) -> int:
    return len(text.split())


@PROPERTY_SETTINGS
@given(sections=st.lists(SECTIONS, min_size=1, max_size=4))
def test_injected_counter_is_used(sections: list[Section]) -> None:
    document = doc(*sections)
    chunks = chunk_document(document, chunk_size=50, overlap=5, count_tokens=words_counter)
    assert_invariants(document, chunks, 50, 5, counter=words_counter)


# --------------------------------------------------------------------------- determinism, cost


def test_output_is_deterministic() -> None:
    document = doc(
        Section(UNICODE_TEXT, page=1, heading="Mixed"),
        Section(paragraph(1500), page=2, heading="Words"),
    )
    first = chunk_document(document, chunk_size=80, overlap=12)
    second = chunk_document(document, chunk_size=80, overlap=12)
    assert first == second


def test_large_document_is_tokenized_in_linear_time() -> None:
    text = "\n\n".join(paragraph(120, seed=n) for n in range(1500))  # ~180k words
    document = doc(Section(text))
    counted_chars = 0

    def counting(value: str) -> int:
        nonlocal counted_chars
        counted_chars += len(value)
        return count_tokens(value)

    started = time.perf_counter()
    chunks = chunk_document(document, chunk_size=400, overlap=60, count_tokens=counting)
    elapsed = time.perf_counter() - started

    assert_invariants(document, chunks, 400, 60)
    # Each sentence once, each finished chunk once (plus its overlap): no re-tokenizing.
    assert counted_chars < 3 * len(text)
    assert elapsed < 10


def test_long_runs_of_dots_are_chunked_whole() -> None:
    # A table-of-contents leader run: a backtracking pattern would never finish on it
    # (the time this takes is bench/ingestion.py's business, not a test's).
    text = "Contents " + "." * 200_000 + " 12"
    chunks = chunk_document(doc(Section(text)), chunk_size=200, overlap=20)
    assert squash("".join(new_text(chunk) for chunk in chunks)) == squash(text)


# --------------------------------------------------------------------------- parent-child


class TestParentChild:
    """Children are searched, parents are read: each child lies inside its parent."""

    def long_document(self) -> ExtractedDocument:
        sentences = " ".join(f"Sentence {i} of the pump manual says little." for i in range(60))
        return doc(
            Section(sentences, page=1, heading="Pump"),
            Section(sentences.replace("pump", "valve"), page=2, heading="Pump"),
            Section("The warranty lasts two years.", page=2, heading="Warranty"),
        )

    def test_children_are_spans_of_their_parent(self):
        document = self.long_document()

        tree = chunk_parent_child(
            document, parent_size=200, child_size=50, overlap=8, count_tokens=words_counter
        )

        assert len(tree.parents) >= 4 and len(tree.children) > len(tree.parents)
        assert [child.index for child in tree.children] == list(range(len(tree.children)))
        for child in tree.children:
            parent = tree.parents[child.parent]
            start, end = child.metadata["parent_start"], child.metadata["parent_end"]
            assert parent.text[start:end] == child.text
            assert child.token_count <= 50 and parent.token_count <= 200
            assert (child.page, child.section) == (parent.page, parent.section)
        # every parent has children, in reading order
        assert sorted({child.parent for child in tree.children}) == list(range(len(tree.parents)))
        assert [c.parent for c in tree.children] == sorted(c.parent for c in tree.children)

    def test_parents_partition_the_text_and_never_cross_pages_or_headings(self):
        document = self.long_document()

        tree = chunk_parent_child(
            document, parent_size=200, child_size=50, overlap=8, count_tokens=words_counter
        )

        assert all(parent.metadata["overlap_chars"] == 0 for parent in tree.parents)
        assert squash("".join(p.text for p in tree.parents)) == squash(
            "".join(section.text for section in document.sections)
        )
        assert [(p.page, p.section) for p in tree.parents[:2]] == [(1, "Pump")] * 2
        assert all(p.page == p.metadata["page_end"] for p in tree.parents)
        assert tree.parents[-1].text == "The warranty lasts two years."
        assert tree.parents[-1].section == "Warranty" and tree.parents[-1].page == 2
        # the children of each parent re-assemble it
        for parent in tree.parents:
            mine = [c for c in tree.children if c.parent == parent.index]
            assert squash("".join(new_text(c) for c in mine)) == squash(parent.text)

    def test_a_small_section_is_one_parent_with_one_child(self):
        tree = chunk_parent_child(
            doc(Section("Short note.", heading="Note")), parent_size=200, child_size=50, overlap=5
        )

        [parent] = tree.parents
        [child] = tree.children
        assert parent.text == child.text == "Short note." and child.parent == 0
        assert (child.metadata["parent_start"], child.metadata["parent_end"]) == (0, 11)

    @pytest.mark.parametrize(("parent_size", "child_size"), [(100, 100), (80, 100)])
    def test_parents_must_be_larger_than_children(self, parent_size, child_size):
        with pytest.raises(ValueError, match="parent_size"):
            chunk_parent_child(
                doc(Section("text")), parent_size=parent_size, child_size=child_size, overlap=0
            )

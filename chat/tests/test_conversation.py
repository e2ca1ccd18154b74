"""The pure rules of a conversation: budget, follow-ups, prompt, citations, titles."""

from assistants.providers.tokens import count_tokens
from chat import conversation
from chat.conversation import HistoryTurn, RetrievedSource


def _turns(n: int) -> list[HistoryTurn]:
    return [
        HistoryTurn("user" if i % 2 == 0 else "assistant", f"turn {i} " + "word " * 50)
        for i in range(n)
    ]


def test_history_keeps_the_newest_turns_within_the_budget():
    turns = _turns(10)
    per_turn = count_tokens(turns[0].content) + conversation.PER_MESSAGE_OVERHEAD
    kept = conversation.history_within_budget(turns, budget_tokens=per_turn * 4 + 1)
    assert [m.content for m in kept] == [t.content for t in turns[6:]]


def test_history_never_starts_with_an_assistant_turn():
    turns = _turns(10)
    per_turn = count_tokens(turns[0].content) + conversation.PER_MESSAGE_OVERHEAD
    kept = conversation.history_within_budget(turns, budget_tokens=per_turn * 3 + 1)
    assert kept[0].role == "user" and len(kept) == 2


def test_no_budget_no_history():
    assert conversation.history_within_budget(_turns(4), budget_tokens=0) == []


def test_follow_ups_are_recognised():
    assert conversation.is_follow_up("How does it work?")
    assert conversation.is_follow_up("and for Germany?")
    assert conversation.is_follow_up("why?")
    assert not conversation.is_follow_up("What is the refund policy for damaged goods?")


def test_rule_based_rewrite_carries_the_earlier_topic():
    query = conversation.rule_based_query("How does it work?", ["What is the refund policy?"])
    assert "refund policy" in query and "How does it work?" in query
    standalone = "What is the shipping time to Norway?"
    assert conversation.rule_based_query(standalone, ["What is the refund policy?"]) == standalone


def test_prompt_numbers_sources_with_title_page_and_section():
    sources = [
        RetrievedSource(1, 10, "d1", "Handbook", 3, "Refunds", 0.9, "Refunds take 5 days."),
        RetrievedSource(2, 11, "d2", "FAQ", None, "", 0.5, "Shipping is free."),
    ]
    prompt = conversation.system_prompt("Be kind.", sources)
    assert prompt.startswith("Be kind.")
    assert "[1] (Handbook, page 3, section “Refunds”)\nRefunds take 5 days." in prompt
    assert "[2] (FAQ)\nShipping is free." in prompt
    assert "[1]" in conversation.CITATION_INSTRUCTIONS


def test_prompt_without_sources_forbids_inventing_them():
    assert "never invent sources" in conversation.system_prompt("", [])


def test_citations_in_order_of_first_use_and_within_range():
    assert conversation.cited_indexes("A [2]. B [1][2]. C [7] [0].", available=3) == [2, 1]


def test_title_from_first_message():
    assert conversation.title_from_message("Where is my parcel?\nOrder 42") == "Where is my parcel?"
    long = conversation.title_from_message("word " * 40)
    assert len(long) <= 61 and long.endswith("…")


def _hit(index: int, chunk_id: int, parent_id: int | None, text: str, parent_text: str = ""):
    return RetrievedSource(
        index=index,
        chunk_id=chunk_id,
        document_id="d",
        document_title="Manual",
        page=None,
        section="",
        score=1.0 / index,
        text=text,
        parent_id=parent_id,
        parent_text=parent_text,
    )


def test_parent_sections_replace_chunks_once_each_within_the_budget():
    section = "Intro. " + "The pump needs care. " * 20 + "Bolt A. Bolt B."
    other = "The valve section. " * 10
    sources = [
        _hit(3, 11, 1, "Bolt A.", section),
        _hit(4, 12, 2, "The valve section.", other),
        _hit(5, 13, 1, "Bolt B.", section),  # same section as the first: read once
        _hit(6, 14, None, "A flat chunk."),
    ]

    kept = conversation.with_parent_sections(sources, budget_tokens=10_000)

    assert [s.chunk_id for s in kept] == [11, 12, 14]
    assert [s.text for s in kept] == [section, other, "A flat chunk."]
    assert [s.index for s in kept] == [3, 4, 5]  # renumbered from the first
    assert kept[0].parent_used and kept[0].merged_chunk_ids == (13,)
    assert not kept[2].parent_used
    prompt = conversation.system_prompt("", kept)
    assert prompt.count("Bolt B.") == 1 and "[5] (Manual)\nA flat chunk." in prompt


def test_a_section_that_does_not_fit_leaves_its_chunk():
    big = "word " * 500
    sources = [_hit(1, 1, 7, "small chunk", big), _hit(2, 2, 8, "other chunk", "short section")]

    kept = conversation.with_parent_sections(sources, budget_tokens=100)

    assert [s.text for s in kept] == ["small chunk", "short section"]
    assert [s.parent_used for s in kept] == [False, True]
    assert count_tokens(" ".join(s.text for s in kept)) <= 100

"""Reading exports: every source's awkward parts, partial failure, and hostile files."""

import json
from datetime import timedelta

import pytest

from chat.conversations.formats import ExportError, ExportLimits, parse_export
from chat.tests import conversation_exports as ex

LIMITS = ExportLimits(
    max_bytes=20 * 2**20,
    max_zip_members=50,
    max_unpacked_bytes=50 * 2**20,
    max_compression_ratio=500,
    max_html_elements=100_000,
    max_conversations=1_000,
    gemini_gap=timedelta(minutes=30),
)


def parse(data, *, name="conversations.json", source=None, limits=LIMITS):
    if not isinstance(data, bytes):
        data = (data if isinstance(data, str) else json.dumps(data)).encode()
    return parse_export(name=name, data=data, source=source, limits=limits)


class TestChatGPT:
    def test_the_path_to_current_node_is_the_conversation(self):
        source, result = parse(ex.chatgpt_zip(), name="export.zip")
        assert source == "chatgpt"
        trip = next(c for c in result.conversations if c.source_id == "conv-lisbon")
        ids = [m.source_id for m in trip.messages]
        # The hidden system node and the empty root are skipped; abandoned branches
        # (q2-old, a2-old) are not on the path.
        assert ids == ["q1", "a1", "q2", "a2-code", "tool-out", "a2", "q3", "a3"]
        assert trip.title == "Trip to Lisbon" and trip.model == "gpt-4o"

    def test_regenerations_and_edits_are_kept_as_earlier_versions(self):
        _, result = parse(ex.chatgpt_export())
        trip = result.conversations[0]
        by_id = {m.source_id: m for m in trip.messages}
        assert [a.source_id for a in by_id["a1"].alternatives] == ["a1-old"]
        assert by_id["a1"].alternatives[0].text.startswith("Lisbon in May is sunny")
        assert [a.text for a in by_id["q2"].alternatives] == ["How much are hotels?"]

    def test_code_tool_output_images_and_null_times(self):
        _, result = parse(ex.chatgpt_export())
        by_id = {m.source_id: m for m in result.conversations[0].messages}
        code, output = by_id["a2-code"], by_id["tool-out"]
        assert (code.role, code.content_type, code.text) == (
            "assistant",
            "code",
            "print(5 * (120 + 40))",
        )
        assert code.created_at is None  # null in the export
        assert (output.role, output.content_type, output.text) == (
            "tool",
            "execution_output",
            "800",
        )
        image_question = by_id["q3"]
        assert image_question.text == "Is this the tram 28 stop?"
        assert image_question.attachments == [
            {
                "kind": "image_asset_pointer",
                "name": "file-service://file-abc123",
                "width": 800,
                "height": 600,
                "size_bytes": 48213,
            }
        ]
        assert ex.UNICODE in by_id["q2"].text

    def test_bad_conversations_are_reported_by_title_and_field_and_the_rest_imported(self):
        _, result = parse(ex.chatgpt_export())
        assert {c.source_id for c in result.conversations} == {
            "conv-lisbon",
            "conv-tax",
            "conv-long",
        }
        problems = {(p.conversation, p.field) for p in result.problems}
        assert problems == {
            ("Broken mapping", "mapping"),
            ("Odd author", "mapping.conv-bad-2-0.message.author.role"),
        }

    def test_a_very_long_conversation_is_read_whole(self):
        _, result = parse([ex.chatgpt_long(3000)])
        assert len(result.conversations[0].messages) == 3000

    def test_a_cycle_in_the_tree_is_a_problem_not_a_hang(self):
        conversation = ex.chatgpt_linear("c", "Loop", [("user", "a"), ("assistant", "b")])
        conversation["mapping"]["root"]["parent"] = "c-1"
        _, result = parse([conversation])
        assert result.conversations == []
        assert result.problems[0].field == "mapping"


class TestClaude:
    def test_blocks_attachments_and_tools(self):
        source, result = parse(ex.claude_export())
        assert source == "claude"
        garden = result.conversations[0]
        first, answer, tool = garden.messages
        assert first.role == "user" and first.text == "Which tomatoes grow well on a balcony?"
        assert first.attachments[0]["name"] == "balcony.txt"
        assert "South-facing" in first.attachments[0]["excerpt"]
        assert first.attachments[1] == {"kind": "file", "name": "photo.jpg"}
        assert answer.text.startswith("Cherry tomatoes") and "windy balcony" not in answer.text
        assert tool.content_type == "tool_result+tool_use" and "Results: 3" in tool.text
        assert [(p.conversation, p.field) for p in result.problems] == [("Broken", "chat_messages")]


class TestGemini:
    def test_records_are_grouped_by_time_gaps(self):
        source, result = parse(
            ex.gemini_records(), name="Takeout/My Activity/Gemini Apps/MyActivity.json"
        )
        assert source == "gemini"
        running, japanese = result.conversations
        assert [m.role for m in running.messages] == ["user", "assistant", "user", "assistant"]
        assert running.messages[0].text == "best marathon training plan"
        assert (
            running.messages[1].text == "Run four times a week.\n- Long run on Sunday\n- Tempo run"
        )
        assert running.messages[3].text == "Strengthen your hips & glutes."
        assert japanese.messages[1].text.startswith("おはようございます")

    def test_the_html_activity_reads_the_same(self):
        _, from_json = parse(ex.gemini_records(), source="gemini")
        source, from_html = parse(ex.gemini_html(), name="MyActivity.html")
        assert source == "gemini"

        def shape(result):
            return [
                (c.source_id, [(m.source_id, m.role, m.text, m.created_at) for m in c.messages])
                for c in result.conversations
            ]

        assert shape(from_html) == shape(from_json)

    def test_inside_a_takeout_zip(self):
        data = ex.zip_of(
            {
                "Takeout/archive_browser.html": "<html></html>",
                "Takeout/My Activity/Gemini Apps/MyActivity.json": json.dumps(ex.gemini_records()),
            }
        )
        source, result = parse(data, name="takeout.zip", source="gemini")
        assert source == "gemini" and len(result.conversations) == 2


class TestGeneric:
    def test_turns_and_bad_roles(self):
        source, result = parse(ex.generic_export())
        assert source == "json"
        (recipe,) = result.conversations
        assert [m.role for m in recipe.messages] == ["user", "assistant"]
        assert recipe.messages[1].created_at.year == 2025
        assert [(p.conversation, p.field) for p in result.problems] == [
            ("Bad turns", "turns[0].role")
        ]


class TestRefusals:
    def test_a_zip_bomb_is_refused_from_its_directory(self):
        with pytest.raises(ExportError, match=r"zip bomb|unpacks to more"):
            parse(ex.zip_bomb(300), name="bomb.zip")

    def test_too_many_members(self):
        data = ex.zip_of({f"f{i}.txt": "x" for i in range(60)})
        with pytest.raises(ExportError, match="more than 50 files"):
            parse(data, name="many.zip")

    def test_a_zip_without_the_export(self):
        with pytest.raises(ExportError, match=r"no conversations\.json"):
            parse(ex.zip_of({"notes.txt": "hello"}), name="x.zip", source="chatgpt")

    def test_not_json_and_too_deep(self):
        with pytest.raises(ExportError, match="not valid JSON"):
            parse("[{]")
        with pytest.raises(ExportError, match=r"nested too deeply|not valid JSON"):
            parse("[" * 100_000 + "]" * 100_000)

    def test_unknown_shape(self):
        with pytest.raises(ExportError, match="Unknown export format"):
            parse([{"foo": 1}])

    def test_too_large(self):
        small = ExportLimits(**{**LIMITS.__dict__, "max_bytes": 1000})
        with pytest.raises(ExportError, match="larger than"):
            parse(ex.chatgpt_export(), limits=small)

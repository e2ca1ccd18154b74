"""Conversation intelligence through its services: import (idempotent, partial
failure), indexing, search in three modes, visibility, ask, analysis, ending."""

import json
from unittest import mock

import numpy as np
import pytest
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django_tenants.utils import schema_context

from billing.models import UsageRecord
from chat import access
from chat.conversations import analysis, ask, importing, indexing, organize, queue, search
from chat.models import (
    ChatSession,
    ConversationAnalysis,
    ImportStatus,
    Message,
    MessageSearchEntry,
)
from chat.tests import conversation_exports as ex
from core import events
from core.api.authorization import caller_resolve


def caller(org, role="member"):
    return caller_resolve(organization=org.organization, user=org.user(role), api_key=None)


def run_import(org, data: bytes, *, name="export.zip", source=None, role="member"):
    job = importing.conversations_import_create(
        caller=caller(org, role), name=name, data=data, source=source
    )
    return importing.conversation_import_run(import_id=job.pk)


def index(org):
    return indexing.messages_index_pending(organization=org.organization)


LONG = 40  # turns of the long conversation here (the format tests read 3,000)


def export_zip():
    return ex.chatgpt_zip(ex.chatgpt_export(long_turns=LONG))


@pytest.fixture
def imported(org_a, assistant):
    with schema_context(org_a.slug):
        job = run_import(org_a, export_zip())
        index(org_a)
        yield job


@pytest.mark.django_db
class TestImport:
    def test_a_chatgpt_export_becomes_sessions_of_the_importer(self, org_a, imported):
        job = imported
        assert job.status == ImportStatus.COMPLETED and job.source == "chatgpt"
        assert (job.conversations_total, job.conversations_created) == (3, 3)
        assert {(p["conversation"], p["field"]) for p in job.problems} == {
            ("Broken mapping", "mapping"),
            ("Odd author", "mapping.conv-bad-2-0.message.author.role"),
        }
        trip = ChatSession.objects.get(source="chatgpt", source_id="conv-lisbon")
        assert trip.created_by == org_a.member and trip.title == "Trip to Lisbon"
        assert trip.source_model == "gpt-4o" and trip.source_created_at.year == 2025
        rows = list(trip.messages.order_by("created_at", "id"))
        assert [m.source_id for m in rows] == [
            "q1", "a1-old", "a1", "q2", "a2-code", "tool-out", "a2", "q3", "a3",
        ]  # fmt: skip
        assert trip.message_count == 9 and trip.last_message_at == rows[-1].created_at
        by_id = {m.source_id: m for m in rows}
        # Linked like this platform's own regenerate and edit.
        assert by_id["a1"].parent_id == by_id["a1-old"].pk
        assert by_id["a1"].reply_to_id == by_id["q1"].pk == by_id["a1-old"].reply_to_id
        assert by_id["q2"].is_edited and by_id["q2"].original_content == "How much are hotels?"
        assert by_id["tool-out"].role == "tool" and by_id["tool-out"].content == "800"
        assert by_id["a2-code"].source_content_type == "code"
        assert by_id["a2-code"].source_created_at is None  # null in the export, time inferred
        assert by_id["tool-out"].created_at > by_id["a2-code"].created_at > by_id["q2"].created_at
        assert by_id["q3"].source_attachments[0]["name"] == "file-service://file-abc123"
        assert by_id["q1"].created_at.timestamp() == ex.T0
        long = ChatSession.objects.get(source_id="conv-long")
        assert long.messages.count() == LONG

    def test_the_history_a_continued_conversation_sends_skips_old_versions(self, org_a, imported):
        from chat.turn import _history

        trip = ChatSession.objects.get(source_id="conv-lisbon")
        contents = [t.content for t in _history(trip, None)]
        assert "Lisbon in May is sunny. Visit Belém Tower." not in contents
        assert any(c.startswith("Lisbon in May is lovely") for c in contents)
        assert "800" not in contents  # tool output is not a turn

    def test_reimporting_adds_only_what_is_new(self, org_a, imported):
        again = run_import(org_a, export_zip())
        assert (again.conversations_created, again.conversations_updated) == (0, 0)
        assert (
            again.messages_imported == 0 and again.messages_existing == imported.messages_imported
        )
        # A newer export: the tax conversation went on.
        newer = ex.chatgpt_export(long_turns=LONG)
        tax = newer[1]
        tax["mapping"]["conv-tax-1"]["children"] = ["conv-tax-2"]
        tax["mapping"]["conv-tax-2"] = ex._node(
            "conv-tax-2",
            "conv-tax-1",
            [],
            role="user",
            parts=["And the deadline?"],
            t=ex.T0 + 90000,
        )
        tax["current_node"] = "conv-tax-2"
        third = run_import(org_a, json.dumps(newer).encode(), name="conversations.json")
        assert (third.conversations_updated, third.messages_imported) == (1, 1)
        assert ChatSession.objects.filter(source="chatgpt").count() == 3
        session = ChatSession.objects.get(source_id="conv-tax")
        assert [m.content for m in session.messages.all()][-1] == "And the deadline?"
        assert session.message_count == 3

    def test_a_run_delivered_twice_does_nothing_the_second_time(self, org_a, imported):
        assert importing.conversation_import_run(import_id=imported.pk) is None

    def test_each_person_gets_their_own_copy(self, org_a, imported):
        job = run_import(org_a, export_zip(), role="viewer")
        assert job.conversations_created == 3
        assert ChatSession.objects.filter(source_id="conv-lisbon").count() == 2

    def test_claude_gemini_and_generic(self, org_a, assistant):
        with schema_context(org_a.slug):
            claude = run_import(
                org_a, json.dumps(ex.claude_export()).encode(), name="conversations.json"
            )
            gemini = run_import(org_a, ex.gemini_html().encode(), name="MyActivity.html")
            generic = run_import(
                org_a, json.dumps(ex.generic_export()).encode(), name="c.json", source="json"
            )
            assert (claude.source, claude.conversations_created, len(claude.problems)) == (
                "claude",
                1,
                1,
            )
            assert (gemini.source, gemini.conversations_created) == ("gemini", 2)
            assert (generic.source, generic.conversations_created) == ("json", 1)
            assert generic.problems == [
                {
                    "conversation": "Bad turns",
                    "field": "turns[0].role",
                    "message": "Unknown role 'wizard'.",
                }
            ]
            # The Gemini activity again, as JSON: the same conversations, nothing new.
            again = run_import(
                org_a, json.dumps(ex.gemini_records()).encode(), name="MyActivity.json"
            )
            assert (again.conversations_created, again.messages_imported) == (0, 0)

    def test_a_file_that_is_not_an_export_fails_with_the_reason(self, org_a, assistant):
        with schema_context(org_a.slug):
            job = run_import(org_a, ex.zip_bomb(100), name="bomb.zip")
            assert job.status == ImportStatus.FAILED and "zip bomb" in job.error
            assert not ChatSession.objects.filter(source="chatgpt").exists()

    def test_refused_before_anything_is_stored(self, org_a, assistant, settings):
        settings.CONVERSATIONS_IMPORT_MAX_MB = 1
        with schema_context(org_a.slug):
            from core.errors import PayloadTooLarge, ValidationFailed

            with pytest.raises(PayloadTooLarge):
                run_import(org_a, b"[" + b" " * 2**20 + b"]", name="c.json")
            with pytest.raises(ValidationFailed):
                run_import(org_a, b"hello", name="c.json")
            with pytest.raises(ValidationFailed):
                run_import(org_a, b"[]", name="c.json", source="myspace")

    def test_the_imported_event_is_emitted(
        self, org_a, assistant, django_capture_on_commit_callbacks
    ):
        seen = []
        events.subscribe(seen.append)
        try:
            with (
                schema_context(org_a.slug),
                mock.patch("chat.conversations.queue.enqueue"),
                django_capture_on_commit_callbacks(execute=True),
            ):
                job = run_import(org_a, json.dumps(ex.generic_export()).encode(), name="g.json")
        finally:
            events.unsubscribe(seen.append)
        imported_events = [e for e in seen if e.type == "conversation.imported"]
        assert imported_events[0].payload == {
            "import_id": str(job.pk), "source": "json", "conversations": 1, "messages": 2,
        }  # fmt: skip


@pytest.mark.django_db
class TestIndexing:
    def conversations(self, count):
        return json.dumps(
            [
                {
                    "id": f"c{n}",
                    "title": f"Trip {n}",
                    "create_time": 1748779230 + n,
                    "turns": [
                        {"role": "user", "text": f"Where should I go in spring {n}?"},
                        {"role": "assistant", "text": f"Kyoto, for the blossoms {n}."},
                    ],
                }
                for n in range(count)
            ]
        ).encode()

    def test_indexing_is_sent_once_the_first_messages_are_committed(
        self, org_a, assistant, django_capture_on_commit_callbacks
    ):
        """A second worker embeds the first conversations while the import goes on;
        within INDEX_DURING_IMPORT_SECONDS the task is not sent again, and the import's
        end sends it once more (with the analysis)."""
        sent, pending_after = [], []
        with (
            schema_context(org_a.slug),
            mock.patch("chat.conversations.queue.enqueue", lambda name, *a, **k: sent.append(name)),
            django_capture_on_commit_callbacks(execute=True),
        ):
            job = importing.conversations_import_create(
                caller=caller(org_a),
                name="trips.json",
                data=self.conversations(3),
                source=None,
                enqueue=False,
            )
            waiting = transaction.get_connection().run_on_commit  # the test's transaction
            before = len(waiting)
            importing.conversation_import_run(
                import_id=job.pk, on_progress=lambda j: pending_after.append(len(waiting) - before)
            )
        assert pending_after == [1, 1, 1]  # sent after the first conversation, not again
        assert sent == [queue.INDEX, queue.INDEX, queue.ANALYZE_IMPORT]

    def test_stored_vectors_are_the_embedders_own(self, org_a, imported):
        """Entries are written in pgvector's binary form: the same float32 values."""
        entry = MessageSearchEntry.objects.select_related("message").get(message__source_id="a1")
        text = indexing.searchable_text(entry.message)
        expected = np.asarray(
            indexing.gateway.provider_for(indexing.embedding_model())
            .embed("all-minilm-l6-v2", [text[: settings.CONVERSATIONS_EMBED_MAX_CHARS]])
            .vectors[0],
            dtype=np.float32,
        )
        assert np.array_equal(np.asarray(entry.embedding, dtype=np.float32), expected)


@pytest.mark.django_db
class TestSearch:
    def q(self, org, text, who="member", **fields):
        return search.history_search(
            caller=caller(org, who),
            query=search.HistoryQuery(query=text, **fields),
            organization=org.organization,
        )

    def test_every_message_is_indexed_once(self, org_a, imported):
        total = Message.objects.exclude(content="").count()
        assert MessageSearchEntry.objects.count() == total
        assert index(org_a) == 0  # nothing left: a second run does nothing
        entry = MessageSearchEntry.objects.get(message__source_id="a1")
        assert (
            entry.embedding_dimensions == 384 and entry.embedding_model == "local/all-minilm-l6-v2"
        )

    def test_batches_are_embedded_as_one_call_each_and_accounted(self, org_a, assistant, settings):
        """The indexer's pipeline (the next batch embedded while this one is written):
        one ledger row per batch, every vector the one ``ai_embed`` gives for the same
        text, and nothing left pending."""
        import math

        from assistants import gateway
        from billing.models import Channel

        settings.CONVERSATIONS_EMBED_BATCH_SIZE = 4
        with schema_context(org_a.slug):
            run_import(org_a, export_zip())
            pending = Message.objects.filter(search_pending=True).exclude(content="").count()
            assert pending > 8
            before = UsageRecord.objects.filter(kind="embedding").count()
            assert index(org_a) == pending
            rows = UsageRecord.objects.filter(kind="embedding").count() - before
            assert rows == math.ceil(pending / 4)
            assert not Message.objects.filter(search_pending=True).exclude(content="").exists()
            entry = MessageSearchEntry.objects.select_related("message").get(
                message__source_id="a1"
            )
            direct = gateway.ai_embed(
                model=indexing.embedding_model(),
                texts=[indexing.searchable_text(entry.message)],
                context=gateway.UsageContext(
                    organization=org_a.organization, channel=Channel.SYSTEM
                ),
            ).vectors[0]
            # The same text's vector (batch neighbours move an int8 model's output a little).
            assert float(np.dot(entry.embedding, direct)) > 0.99

    @pytest.mark.parametrize("mode", ["vector", "keyword", "hybrid"])
    def test_each_mode_finds_the_right_conversation(self, org_a, imported, mode):
        page = self.q(org_a, "tram 28 in Lisbon", mode=mode)
        assert page.results, mode
        assert page.results[0].session_title == "Trip to Lisbon"
        top = page.results[0]
        assert top.link if hasattr(top, "link") else True
        assert top.score > 0 and top.created_at is not None

    def test_meaning_without_the_words(self, org_a, imported):
        page = self.q(org_a, "paperwork needed to file taxes", mode="vector")
        assert page.results[0].session_title == "Tax return questions"

    def test_snippet_highlights_and_neighbours(self, org_a, imported):
        hit = self.q(org_a, "Jerónimos Monastery tickets", mode="keyword").results[0]
        assert hit.content.startswith("Lisbon in May is lovely")
        marked = [hit.snippet[s:e] for s, e in hit.highlights]
        assert "Jerónimos" in marked and "Monastery" in marked and "tickets" in marked
        assert hit.before["content"].startswith("I want to plan a trip to Lisbon")
        assert hit.after["content"].startswith("Compute a budget")

    def test_filters_and_pages(self, org_a, imported):
        assert self.q(org_a, "Lisbon", mode="keyword", source="claude").results == []
        users = self.q(org_a, "Lisbon", mode="keyword", role="user").results
        assert users and {h.role for h in users} == {"user"}
        first = self.q(org_a, "sourdough hydration", mode="keyword", page_size=5)
        second = self.q(org_a, "sourdough hydration", mode="keyword", page_size=5, page=2)
        assert first.has_more and len(second.results) == 5
        assert not {h.message_id for h in first.results} & {h.message_id for h in second.results}

    def test_another_member_cannot_find_my_imported_conversations(self, org_a, imported):
        assert self.q(org_a, "Lisbon tram", who="viewer", mode="hybrid").results == []
        assert self.q(org_a, "Lisbon tram", who="admin", mode="hybrid").results  # admins: all
        trip = ChatSession.objects.get(source_id="conv-lisbon")
        with pytest.raises(ObjectDoesNotExist):
            access.access_session(caller=caller(org_a, "viewer"), session_id=trip.pk)
        # Shared: now visible to the organization's people.
        trip.is_shared = True
        trip.save()
        assert self.q(org_a, "Lisbon tram", who="viewer", mode="keyword").results

    def test_live_answers_are_indexed_too(self, org_a, assistant):
        from chat import services as chat_services

        with schema_context(org_a.slug):
            turn = chat_services.chat_prepare(
                organization=org_a.organization,
                assistant_id=assistant.id,
                message="What is the refund window for kayaks?",
                user=org_a.member,
                caller=caller(org_a),
            )
            chat_services.chat_finish(
                turn=turn, text="Kayaks can be refunded within 30 days.", status="complete"
            )
            assert index(org_a) == 2
            hit = self.q(org_a, "kayak refund", mode="keyword").results[0]
            assert hit.source == "platform" and hit.role in ("user", "assistant")

    def test_a_question_with_an_attachment_is_found_by_the_file(self, org_a, assistant):
        from chat import services as chat_services
        from tests.factories import upload_files

        [file] = upload_files(
            org_a,
            [("zanzibar-fleet.txt", b"The quokkavan fleet holds 14 electric vans in Mombasa.")],
            user=org_a.member,
        )
        with schema_context(org_a.slug):
            turn = chat_services.chat_prepare(
                organization=org_a.organization,
                assistant_id=assistant.id,
                message="How many vans are there?",
                user=org_a.member,
                caller=caller(org_a),
                attachments=[file.id],
            )
            chat_services.chat_finish(turn=turn, text="There are 14.", status="complete")
            index(org_a)

            by_name = self.q(org_a, "zanzibar fleet", mode="keyword").results
            by_content = self.q(org_a, "quokkavan Mombasa", mode="keyword").results

        # Neither phrase is in the question or the answer: only in the file.
        assert [str(h.message_id) for h in by_name] == [str(turn.user_message.pk)]
        assert [str(h.message_id) for h in by_content] == [str(turn.user_message.pk)]


@pytest.mark.django_db
class TestAsk:
    def test_answers_with_citations_and_is_accounted(self, org_a, imported, assistant):
        before = UsageRecord.objects.filter(organization=org_a.organization).count()
        plan = ask.ask_prepare(
            caller=caller(org_a),
            organization=org_a.organization,
            question="What did I plan to see in Lisbon?",
            assistant=assistant,
            channel="web",
            query_filters={},
        )
        result = ask.ask_complete(plan)
        assert "Extractive answer" in result["answer"]  # offline, and it says so
        cited = [e for e in result["excerpts"] if e["cited"]]
        assert cited and cited[0]["conversation_title"] == "Trip to Lisbon"
        assert cited[0]["message_id"] and cited[0]["date"].year == 2025
        # The query's embedding and the answer are in the ledger.
        kinds = list(
            UsageRecord.objects.filter(organization=org_a.organization)
            .order_by("created_at")
            .values_list("kind", flat=True)[before:]
        )
        assert kinds == ["embedding", "chat"]


@pytest.mark.django_db
class TestAnalysis:
    def test_local_methods_say_so_and_find_the_topics(self, org_a, imported):
        trip = ChatSession.objects.get(source_id="conv-lisbon")
        seen = []
        events.subscribe(seen.append)
        try:
            first = analysis.conversation_analyze(session=trip, organization=org_a.organization)
            second = analysis.conversation_analyze(session=trip, organization=org_a.organization)
        finally:
            events.unsubscribe(seen.append)
        assert (first.version, second.version) == (1, 2)
        assert first.method == "local" and "YAKE" in first.model and "VADER" in first.model
        assert any("Lisbon" in t for t in first.topics)
        assert "Lisbon" in first.summary
        assert first.sentiment_label in ("positive", "neutral", "negative")
        assert any("book the flights" in a["text"] for a in first.action_items)
        assert ConversationAnalysis.objects.filter(session=trip).count() == 2

    def test_sentiment_follows_the_person(self, org_a, assistant):
        with schema_context(org_a.slug):
            happy = [{"role": "user", "text": "Thank you so much, this is wonderful and works great!"},
                     {"role": "assistant", "text": "Glad it helped."}]  # fmt: skip
            angry = [{"role": "user", "text": "This is terrible, broken and useless. I hate it."},
                     {"role": "assistant", "text": "Sorry to hear that."}]  # fmt: skip
            data = [
                {"id": "h", "title": "Happy", "create_time": 1, "turns": happy},
                {"id": "a", "title": "Angry", "create_time": 2, "turns": angry},
            ]
            run_import(org_a, json.dumps(data).encode(), name="g.json")
            labels = {
                s.title: analysis.conversation_analyze(
                    session=s, organization=org_a.organization
                ).sentiment_label
                for s in ChatSession.objects.filter(source="json")
            }
        assert labels == {"Happy": "positive", "Angry": "negative"}

    def test_ending_emits_the_event_and_analyses(
        self, org_a, imported, django_capture_on_commit_callbacks
    ):
        trip = ChatSession.objects.get(source_id="conv-tax")
        analysed = []
        organize.conversation_end(session=trip, analyze=analysed.append)  # already ended at import
        assert analysed == []
        trip.ended_at = None
        trip.save()
        organize.conversation_end(session=trip, analyze=analysed.append)
        assert analysed == [trip.pk] and trip.ended_at is not None

    def test_the_idle_sweep_ends_quiet_conversations(self, org_a, assistant):
        from datetime import timedelta

        from django.utils import timezone

        with schema_context(org_a.slug):
            quiet = ChatSession.objects.create(assistant=assistant, created_by=org_a.member)
            busy = ChatSession.objects.create(assistant=assistant, created_by=org_a.member)
            ChatSession.objects.filter(pk=quiet.pk).update(
                last_message_at=timezone.now() - timedelta(hours=3)
            )
            ChatSession.objects.filter(pk=busy.pk).update(last_message_at=timezone.now())
            analysed = []
            assert organize.conversations_end_idle(analyze=analysed.append) == 1
            quiet.refresh_from_db()
            busy.refresh_from_db()
            assert quiet.ended_at is not None and busy.ended_at is None


@pytest.mark.django_db
def test_the_command_imports_with_a_progress_bar_and_again_adds_nothing(org_a, assistant, tmp_path):
    import io

    from django.core.management import call_command

    export = tmp_path / "conversations.json"
    export.write_text(json.dumps(ex.claude_export()))
    out, err = io.StringIO(), io.StringIO()
    args = ["--organization", org_a.slug, "--user", org_a.member.email, str(export)]
    call_command("import_conversations", *args, stdout=out, stderr=err)
    assert "claude: 1 new and 0 updated conversations, 3 messages added" in out.getvalue()
    assert "not imported: Broken (chat_messages)" in out.getvalue()
    assert "1/1 conversations" in err.getvalue() and "3/3 messages indexed" in err.getvalue()
    with schema_context(org_a.slug):
        garden = ChatSession.objects.get(source="claude")
        assert garden.created_by == org_a.member
        assert ConversationAnalysis.objects.filter(session=garden).count() == 1
    out = io.StringIO()
    call_command("import_conversations", *args, "--no-analysis", stdout=out, stderr=io.StringIO())
    assert "0 new and 0 updated conversations, 0 messages added, 3 already there" in out.getvalue()

"""Answers that end together are stored together (chat/finishing.py): one transaction per
organization a round, totals exact, ``done`` after the commit, and a failure or a crash
neither loses an answer nor counts one twice."""

import asyncio
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from assistants.tests.providers.fake_server import Reply
from billing.models import UsageRecord
from chat import finishing, recovery, services, streaming
from chat.models import ChatSession, Message, MessageStatus
from core import events
from tests.factories import member_turn_prepare

_prepare = member_turn_prepare


def _end(turn, text, status=MessageStatus.COMPLETE):
    return services.AnswerEnd(turn=turn, text=text, status=status)


def _finish_together(ends):
    """Hand every end to this loop's finisher at once (as streams ending in the same
    moment do); each result is the stored row or what stopped it."""

    async def run():
        results = await asyncio.gather(
            *(finishing.answer_finish(end) for end in ends), return_exceptions=True
        )
        return results, finishing.finisher().batches

    return async_to_sync(run)()


def _ledger(org):
    return UsageRecord.objects.filter(organization=org.organization, kind="chat")


def _assert_totals_add_up(session_ids):
    for session in ChatSession.objects.filter(pk__in=session_ids):
        messages = session.messages.exclude(status=MessageStatus.STREAMING)
        totals = messages.aggregate(tokens=Sum("total_tokens"), cost=Sum("cost"))
        assert session.message_count == messages.count()
        assert session.total_tokens == totals["tokens"]
        assert session.total_cost == totals["cost"]


@pytest.mark.django_db
def test_answers_that_end_together_are_stored_in_one_round_with_exact_totals(org_a, assistant):
    # given: five answers streaming, two of them follow-ups in the first one's session
    first = _prepare(org_a, assistant)
    turns = [
        first,
        _prepare(org_a, assistant, "And how long does that take?", session=first.session),
        _prepare(org_a, assistant, "Who pays for shipping then?", session=first.session),
        _prepare(org_a, assistant, "Where is the office?"),
        _prepare(org_a, assistant, "Can I work from home?"),
    ]
    texts = [f"Answer number {i} with a few words [1]." for i in range(len(turns))]

    # when: their streams end at the same moment
    stored, batches = _finish_together(
        [_end(turn, text) for turn, text in zip(turns, texts, strict=True)]
    )

    # then: one round stored them all, each with its own text, once
    assert batches == 1
    assert [m.status for m in stored] == [MessageStatus.COMPLETE] * 5
    with schema_context(org_a.slug):
        rows = Message.objects.in_bulk([t.assistant_message.pk for t in turns])
        assert [rows[t.assistant_message.pk].content for t in turns] == texts
        assert all(rows[t.assistant_message.pk].status == MessageStatus.COMPLETE for t in turns)
        # a ledger row per answer, equal to its message
        ledger = _ledger(org_a)
        assert ledger.count() == 5
        assert ledger.aggregate(t=Sum("total_tokens"))["t"] == sum(
            m.total_tokens for m in rows.values()
        )
        assert sorted(r.cost for r in ledger) == sorted(m.cost for m in rows.values())
        # and the sessions' totals add up, the shared session's three answers included
        shared = ChatSession.objects.get(pk=first.session.pk)
        assert shared.message_count == 6
        _assert_totals_add_up({t.session.pk for t in turns})


@pytest.mark.django_db
def test_storing_many_answers_costs_the_statements_of_one(org_a, assistant):
    one = [_prepare(org_a, assistant, "First question?")]
    many = [_prepare(org_a, assistant, f"Question {i}?") for i in range(6)]

    def statements(turns):
        with schema_context(org_a.slug), CaptureQueriesContext(connection) as queries:
            services.chat_finish_many(ends=[_end(t, "An answer.") for t in turns])
        return len(queries)

    assert statements(many) == statements(one)


@pytest.mark.django_db
def test_a_failing_answer_does_not_take_the_others_with_it_nor_count_twice(org_a, assistant):
    # given: four answers ending together, one of which PostgreSQL refuses (a NUL byte)
    turns = [_prepare(org_a, assistant, f"Question {i}?") for i in range(4)]
    ends = [_end(turn, f"Fine answer {i}.") for i, turn in enumerate(turns)]
    ends[2] = _end(turns[2], "Broken \x00 answer.")

    # when
    results, _ = _finish_together(ends)

    # then: the batch failed as a whole, then each answer was stored on its own: three
    # stored once, the refused one reported to its stream and left `streaming`
    assert isinstance(results[2], Exception)
    assert [results[i].status for i in (0, 1, 3)] == [MessageStatus.COMPLETE] * 3
    with schema_context(org_a.slug):
        statuses = [Message.objects.get(pk=t.assistant_message.pk).status for t in turns]
        assert statuses == ["complete", "complete", "streaming", "complete"]
        assert _ledger(org_a).count() == 3
        _assert_totals_add_up({t.session.pk for t in turns})

        # and the sweep, once its lease runs out, stores the refused one, counted once
        Message.objects.filter(pk=turns[2].assistant_message.pk).update(
            updated_at=timezone.now() - timedelta(minutes=5)
        )
        assert recovery.answers_recover_interrupted() == 1
        assert _ledger(org_a).count() == 4
        _assert_totals_add_up({t.session.pk for t in turns})


@pytest.mark.django_db
def test_a_batch_that_never_committed_leaves_its_answers_to_the_sweep(org_a, assistant):
    # given: two answers whose streams ended; the process died before their batch
    # committed: their rows still hold the last heartbeat's text, which no longer moves
    turns = [_prepare(org_a, assistant, f"Question {i}?") for i in range(2)]
    with schema_context(org_a.slug):
        recovery.answers_heartbeat(texts={t.assistant_message.pk: "Half an ans" for t in turns})
        Message.objects.filter(pk__in=[t.assistant_message.pk for t in turns]).update(
            updated_at=timezone.now() - timedelta(minutes=5)
        )

        # when: the sweep runs
        assert recovery.answers_recover_interrupted() == 2

        # then: both are final with the text they had, charged once
        for turn in turns:
            message = Message.objects.get(pk=turn.assistant_message.pk)
            assert (message.status, message.content) == (MessageStatus.INTERRUPTED, "Half an ans")
        assert _ledger(org_a).count() == 2
        _assert_totals_add_up({t.session.pk for t in turns})

        # and a batch arriving after all (a slow process, not a dead one) changes nothing
        late = services.chat_finish_many(
            ends=[_end(t, "Half an answer, then more.") for t in turns]
        )
        assert [m.status for m in late] == [MessageStatus.INTERRUPTED] * 2
        assert _ledger(org_a).count() == 2
        _assert_totals_add_up({t.session.pk for t in turns})


@pytest.mark.django_db
def test_the_same_answer_ended_twice_in_a_batch_is_stored_once(org_a, assistant):
    turn = _prepare(org_a, assistant)
    with schema_context(org_a.slug):
        first, second = services.chat_finish_many(
            ends=[_end(turn, "The answer."), _end(turn, "The answer, again.")]
        )
        assert first.content == second.content == "The answer."
        assert _ledger(org_a).count() == 1
        _assert_totals_add_up({turn.session.pk})


@pytest.mark.django_db
def test_the_events_of_a_batch_reach_batch_subscribers_together(
    org_a, assistant, django_capture_on_commit_callbacks
):
    turns = [_prepare(org_a, assistant, f"Question {i}?") for i in range(3)]
    deliveries = []
    events.subscribe_batches(deliveries.append)
    try:
        with schema_context(org_a.slug), django_capture_on_commit_callbacks(execute=True):
            services.chat_finish_many(ends=[_end(t, f"Answer {i}.") for i, t in enumerate(turns)])
    finally:
        events.unsubscribe(deliveries.append)

    [delivered] = deliveries
    assert [e.type for e in delivered] == ["chat.message.completed"] * 3
    assert {e.payload["message_id"] for e in delivered} == {
        str(t.assistant_message.pk) for t in turns
    }


@pytest.mark.django_db
def test_streams_ending_together_share_rounds_and_done_follows_the_stored_answer(
    org_a, openai_assistant, provider_server, settings
):
    # given: eight answers streaming at once, ending at about the same moment
    settings.CHAT_FINISH_INTERVAL_SECONDS = 0.5
    count = 8
    provider_server.enqueue(*[Reply(text="word " * 12, chunk_delay=0.02) for _ in range(count)])
    turns = [_prepare(org_a, openai_assistant, f"Question {i}?") for i in range(count)]
    status_at_done = {}

    def stored_status(turn):
        with schema_context(org_a.slug):
            return Message.objects.get(pk=turn.assistant_message.pk).status

    async def collect(turn):
        names = []
        async for event in streaming.turn_events(turn):
            names.append(event.name)
            if event.name == "done":
                status_at_done[turn.assistant_message.pk] = await sync_to_async(
                    stored_status, thread_sensitive=True
                )(turn)
        return names

    async def run():
        results = await asyncio.gather(*(collect(turn) for turn in turns))
        return results, finishing.finisher().batches

    # when
    results, batches = async_to_sync(run)()

    # then: every stream ended with `done`, sent when its answer was already stored
    assert all(names[-1] == "done" for names in results)
    assert set(status_at_done.values()) == {MessageStatus.COMPLETE}
    assert len(status_at_done) == count
    # in fewer rounds than answers (the first is stored at once, the rest together)
    assert batches < count
    with schema_context(org_a.slug):
        assert _ledger(org_a).count() == count
        _assert_totals_add_up({t.session.pk for t in turns})

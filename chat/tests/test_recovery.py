"""Answers never stay `streaming`: the heartbeat of a live answer and the orphan sweep."""

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.db.models import Sum
from django.utils import timezone
from django_tenants.utils import schema_context

from assistants.tests.providers.fake_server import Reply
from billing.models import UsageRecord
from chat import heartbeats, recovery, services, streaming
from chat.models import ChatSession, Message, MessageStatus
from tests.factories import member_turn_prepare

LONG_ANSWER = " ".join(f"word{i}" for i in range(40))


_prepare = member_turn_prepare


def _orphan(turn, text: str, age=timedelta(minutes=5)) -> None:
    """What a crashed web process leaves: the text of its last heartbeat, then silence."""
    recovery.answer_heartbeat(message_id=turn.assistant_message.pk, text=text)
    Message.objects.filter(pk=turn.assistant_message.pk).update(updated_at=timezone.now() - age)


def _chat_ledger(org):
    return UsageRecord.objects.filter(organization=org.organization, kind="chat")


@pytest.mark.django_db
def test_an_orphaned_answer_is_stored_interrupted_with_its_text_and_counted_once(org_a, assistant):
    turn = _prepare(org_a, assistant)
    with schema_context(org_a.slug):
        before = ChatSession.objects.get(pk=turn.session.pk)
        _orphan(turn, "A refund is paid to the original card")

        # when: the sweep runs twice (start-up and beat)
        assert recovery.answers_recover_interrupted() == 1
        assert recovery.answers_recover_interrupted() == 0

        # then: a final state with the partial text, charged once
        message = Message.objects.get(pk=turn.assistant_message.pk)
        assert message.status == MessageStatus.INTERRUPTED
        assert message.content == "A refund is paid to the original card"
        assert message.completion_tokens > 0 and message.prompt_tokens > 0
        ledger = _chat_ledger(org_a)
        assert ledger.count() == 1 and ledger.get().tokens_estimated
        assert ledger.get().total_tokens == message.total_tokens
        assert ledger.get().cost == message.cost

        # and the session's totals add up to its messages again
        session = ChatSession.objects.get(pk=turn.session.pk)
        assert session.message_count == before.message_count + 1
        assert session.message_count == session.messages.count()
        totals = session.messages.aggregate(tokens=Sum("total_tokens"), cost=Sum("cost"))
        assert session.total_tokens == totals["tokens"]
        assert session.total_cost == totals["cost"]


@pytest.mark.django_db
def test_a_live_answer_is_left_streaming(org_a, assistant):
    turn = _prepare(org_a, assistant)
    with schema_context(org_a.slug):
        recovery.answer_heartbeat(message_id=turn.assistant_message.pk, text="so far")
        assert recovery.answers_recover_interrupted() == 0
        message = Message.objects.get(pk=turn.assistant_message.pk)
        assert (message.status, message.content) == (MessageStatus.STREAMING, "so far")


@pytest.mark.django_db
def test_a_stream_that_finishes_after_the_sweep_does_not_count_twice(org_a, assistant):
    turn = _prepare(org_a, assistant)
    with schema_context(org_a.slug):
        _orphan(turn, "Partial")
        recovery.answers_recover_interrupted()
        session = ChatSession.objects.get(pk=turn.session.pk)

        # when: the (slow, not dead) stream finishes after all
        finished = services.chat_finish(turn=turn, text="Partial and more", status="complete")

        # then: the sweep's record stands; nothing added twice
        assert finished.status == MessageStatus.INTERRUPTED
        assert _chat_ledger(org_a).count() == 1
        after = ChatSession.objects.get(pk=turn.session.pk)
        assert (after.message_count, after.total_tokens, after.total_cost) == (
            session.message_count,
            session.total_tokens,
            session.total_cost,
        )


@pytest.mark.django_db
def test_the_heartbeat_stores_the_text_so_far_while_the_answer_streams(
    org_a, openai_assistant, provider_server, settings
):
    settings.CHAT_STREAM_HEARTBEAT_SECONDS = 0.05
    provider_server.enqueue(Reply(text=LONG_ANSWER, chunk_delay=0.05))
    turn = _prepare(org_a, openai_assistant)
    seen_while_streaming = []

    async def read_and_watch():
        from asgiref.sync import sync_to_async

        def stored_text():
            with schema_context(org_a.slug):
                return Message.objects.get(pk=turn.assistant_message.pk).content

        deltas = 0
        async for event in streaming.turn_events(turn):
            if event.name == "delta":
                deltas += 1
                if deltas in (10, 30):
                    await asyncio.sleep(0.2)  # give the heartbeat its turn
                    seen_while_streaming.append(
                        await sync_to_async(stored_text, thread_sensitive=True)()
                    )

    async_to_sync(read_and_watch)()

    with schema_context(org_a.slug):
        message = Message.objects.get(pk=turn.assistant_message.pk)
    assert message.status == MessageStatus.COMPLETE
    # the row grew while the answer streamed: a crash at that point keeps that much
    assert seen_while_streaming[0] and seen_while_streaming[1].startswith(seen_while_streaming[0])
    assert len(seen_while_streaming[1]) > len(seen_while_streaming[0])
    assert message.content.startswith(seen_while_streaming[1])
    assert message.cost >= Decimal("0")


@pytest.mark.django_db
def test_streams_open_at_once_are_beaten_together_by_one_writer(
    org_a, openai_assistant, provider_server, settings
):
    # given: three answers streaming at once in one process
    settings.CHAT_STREAM_HEARTBEAT_SECONDS = 0.05
    for _ in range(3):
        provider_server.enqueue(Reply(text=LONG_ANSWER, chunk_delay=0.05))
    turns = [_prepare(org_a, openai_assistant, f"Question {i}?") for i in range(3)]
    seen: dict = {}
    writers: set = set()
    deltas = {turn.assistant_message.pk: 0 for turn in turns}

    def stored_texts():
        with schema_context(org_a.slug):
            return dict(Message.objects.filter(pk__in=list(deltas)).values_list("pk", "content"))

    async def read(turn):
        async for event in streaming.turn_events(turn):
            if event.name == "delta":
                deltas[turn.assistant_message.pk] += 1
                writers.add(heartbeats.heartbeats().writer)

    async def watch():
        from asgiref.sync import sync_to_async

        while min(deltas.values()) < 5:  # every stream has said something
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # a few beats
        seen.update(await sync_to_async(stored_texts, thread_sensitive=True)())

    async def run():
        await asyncio.gather(*(read(turn) for turn in turns), watch())
        return heartbeats.heartbeats()

    after = async_to_sync(run)()

    # then: while they streamed, each row held its own text so far, from one writer
    assert len(writers) == 1
    assert all(seen[turn.assistant_message.pk].startswith("word0") for turn in turns)
    # and the writer stops with the last stream
    assert after.writer is None and not after.streams
    with schema_context(org_a.slug):
        statuses = set(
            Message.objects.filter(pk__in=[t.assistant_message.pk for t in turns]).values_list(
                "status", flat=True
            )
        )
    assert statuses == {MessageStatus.COMPLETE}


@pytest.mark.django_db
def test_a_heartbeat_never_touches_an_answer_that_is_no_longer_streaming(org_a, assistant):
    streaming_turn, swept_turn = _prepare(org_a, assistant), _prepare(org_a, assistant, "Other?")
    with schema_context(org_a.slug):
        _orphan(swept_turn, "what it had")
        assert recovery.answers_recover_interrupted() == 1

        # when: one beat for both (the process did not know the second was swept)
        stored = recovery.answers_heartbeat(
            texts={
                streaming_turn.assistant_message.pk: "so far",
                swept_turn.assistant_message.pk: "more text",
            }
        )

        # then: only the live answer moved; the swept one keeps its final state
        assert stored == 1
        live = Message.objects.get(pk=streaming_turn.assistant_message.pk)
        swept = Message.objects.get(pk=swept_turn.assistant_message.pk)
        assert (live.content, live.status) == ("so far", MessageStatus.STREAMING)
        assert (swept.content, swept.status) == ("what it had", MessageStatus.INTERRUPTED)

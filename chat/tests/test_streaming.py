"""The streaming runtime: disconnects, concurrent organizations, exact totals."""

import asyncio
import os
import threading
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django_tenants.utils import schema_context

from assistants import services as assistant_services
from assistants.catalog.models import AIModel
from assistants.tests.providers.fake_server import Reply, error
from billing.models import UsageRecord
from chat import services, streaming
from chat.models import ChatSession, Message, MessageStatus
from core.api.authorization import caller_resolve
from tests.factories import make_assistant
from tests.helpers import GOOD_KEY

LONG_ANSWER = " ".join(f"word{i}" for i in range(60))


def _prepare(org, assistant, message="How do refunds work?"):
    with schema_context(org.slug):
        return services.chat_prepare(
            organization=org.organization,
            assistant_id=assistant.id,
            message=message,
            user=org.member,
            caller=caller_resolve(organization=org.organization, user=org.member, api_key=None),
        )


def _stored(org, turn) -> Message:
    with schema_context(org.slug):
        return Message.objects.get(pk=turn.assistant_message.pk)


@pytest.mark.django_db
class TestDisconnect:
    def test_closing_the_stream_keeps_the_text_so_far_as_cancelled(
        self, org_a, openai_assistant, provider_server
    ):
        provider_server.enqueue(Reply(text=LONG_ANSWER, chunk_delay=0.02))
        turn = _prepare(org_a, openai_assistant)

        async def read_three_deltas_then_leave():
            events = streaming.turn_events(turn)
            seen = []
            async for event in events:
                seen.append(event)
                if sum(e.name == "delta" for e in seen) == 3:
                    break
            await events.aclose()  # what the server does when the client goes away
            return seen

        seen = async_to_sync(read_three_deltas_then_leave)()

        message = _stored(org_a, turn)
        received = "".join(e.data["text"] for e in seen if e.name == "delta")
        assert message.status == MessageStatus.CANCELLED
        assert message.content == received and 0 < len(received) < len(LONG_ANSWER)
        # tokens the provider did produce are still accounted (counted by us)
        record = UsageRecord.objects.get(organization=org_a.organization, kind="chat")
        assert record.tokens_estimated and record.completion_tokens > 0
        assert message.cost == record.cost

    def test_a_cancelled_request_task_is_handled_the_same_way(
        self, org_a, openai_assistant, provider_server
    ):
        provider_server.enqueue(Reply(text=LONG_ANSWER, chunk_delay=0.02))
        turn = _prepare(org_a, openai_assistant)
        deltas = []

        async def serve_until_cancelled():
            async def consume():
                async for event in streaming.turn_events(turn):
                    if event.name == "delta":
                        deltas.append(event.data["text"])

            task = asyncio.ensure_future(consume())
            while len(deltas) < 4:
                await asyncio.sleep(0.01)
            task.cancel()  # Django's ASGI handler cancels the response on http.disconnect
            with pytest.raises(asyncio.CancelledError):
                await task

        async_to_sync(serve_until_cancelled)()

        message = _stored(org_a, turn)
        assert message.status == MessageStatus.CANCELLED
        assert message.content.startswith("".join(deltas[:4]))


@pytest.mark.django_db
def test_two_organizations_streaming_at_once_write_to_their_own_schemas(
    org_a, org_b, provider_server
):
    # given: an OpenAI assistant in each organization, both answering slowly
    assistants = {}
    for org in (org_a, org_b):
        with schema_context(org.slug):
            assistant_services.credential_create(
                provider="openai",
                api_key="sk-test-good-key-1234",
                base_url=f"{provider_server.url}/v1",
            )
        assistants[org.slug] = make_assistant(org, "openai/gpt-4o-mini")
    provider_server.enqueue(
        Reply(text="alpha " * 15, chunk_delay=0.01), Reply(text="beta " * 15, chunk_delay=0.01)
    )
    turn_a = _prepare(org_a, assistants["alpha"], "Alpha question")
    turn_b = _prepare(org_b, assistants["beta"], "Beta question")

    async def collect(turn):
        return [event async for event in streaming.turn_events(turn)]

    async def both():
        return await asyncio.gather(collect(turn_a), collect(turn_b))

    # when
    events_a, events_b = async_to_sync(both)()

    # then: each answer is complete, in its own schema only
    assert events_a[-1].name == events_b[-1].name == "done"
    for org, mine, theirs in ((org_a, turn_a, turn_b), (org_b, turn_b, turn_a)):
        with schema_context(org.slug):
            assert (
                Message.objects.get(pk=mine.assistant_message.pk).status == MessageStatus.COMPLETE
            )
            assert not Message.objects.filter(pk=theirs.assistant_message.pk).exists()
            assert ChatSession.objects.get(pk=mine.session.pk).message_count == 2


def test_session_totals_stay_exact_under_concurrent_messages(organizations, django_db_blocker):
    org = organizations["alpha"]
    threads, per_thread = 6, 20
    with django_db_blocker.unblock():
        with schema_context(org.slug):
            assistant = assistant_services.assistant_create(
                user=None,
                name="Totals",
                model=AIModel.objects.get(provider="local", model_id="extractive"),
            )
            session = ChatSession.objects.create(assistant=assistant, title="race")
        try:

            def add_many():
                with schema_context(org.slug):
                    for _ in range(per_thread):
                        services.session_add_totals(
                            session_id=session.pk, messages=1, tokens=7, cost=Decimal("0.000003")
                        )
                connection.close()

            workers = [threading.Thread(target=add_many) for _ in range(threads)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()

            with schema_context(org.slug):
                session.refresh_from_db()
            count = threads * per_thread
            assert session.message_count == count
            assert session.total_tokens == 7 * count
            assert session.total_cost == Decimal("0.000003") * count
        finally:
            with schema_context(org.slug):
                assistant.delete()


def _our_threads() -> set[str]:
    # The fake provider runs in this process and serves each connection in a thread of
    # its own: those stand for the provider's servers, not for what a stream costs us.
    return {t.name for t in threading.enumerate() if "process_request_thread" not in t.name}


@pytest.mark.django_db
def test_waiting_streams_hold_no_thread(org_a, openai_assistant, provider_server):
    # given: 8 answers streaming slowly at the same time (2 s each: long enough to overlap
    # even when the fake server's small listen backlog delays a connection by a SYN retry)
    count = 8
    provider_server.enqueue(*[Reply(text="slow " * 40, chunk_delay=0.05) for _ in range(count)])
    turns = [_prepare(org_a, openai_assistant, f"Question {i}?") for i in range(count)]
    seen = {"all_streaming": False, "threads": set()}

    async def run():
        streaming_now: set = set()

        async def collect(turn):
            events = []
            async for event in streaming.turn_events(turn):
                events.append(event)
                if event.name == "delta":
                    streaming_now.add(turn.assistant_message.pk)
                    if len(streaming_now) == count:  # every answer waits on the provider
                        seen["all_streaming"] = True
                        seen["threads"] |= _our_threads()
            return events

        return await asyncio.gather(*(collect(turn) for turn in turns))

    # when
    before = _our_threads()
    results = async_to_sync(run)()

    # then: all answers complete, and holding them added no thread per answer: the
    # provider streams are awaited on the event loop. The only new threads are asyncio's
    # default pool, which resolves host names for new connections (bounded, whatever the
    # number of streams).
    assert [events[-1].name for events in results] == ["done"] * count
    assert seen["all_streaming"]
    added = seen["threads"] - before
    loop_thread = {name for name in added if not name.startswith("asyncio_")}
    assert len(loop_thread) <= 1  # async_to_sync's event loop
    assert len(added - loop_thread) <= min(32, (os.cpu_count() or 1) + 4)
    for turn in turns:
        assert _stored(org_a, turn).status == MessageStatus.COMPLETE


@pytest.mark.django_db
def test_a_failing_primary_hands_the_answer_to_the_fallback_model(org_a, provider_server):
    # given: an OpenAI assistant whose fallback is an Anthropic model, OpenAI down
    with schema_context(org_a.slug):
        for vendor, base in (("openai", "/v1"), ("anthropic", "")):
            assistant_services.credential_create(
                provider=vendor, api_key=GOOD_KEY, base_url=f"{provider_server.url}{base}"
            )
    fallback = AIModel.objects.get(provider="anthropic", model_id="claude-haiku-4-5")
    assistant = make_assistant(org_a, "openai/gpt-4o-mini", fallback_model=fallback)
    provider_server.enqueue(error(503), Reply(text="Answered by the fallback.", usage=(40, 6)))
    turn = _prepare(org_a, assistant)

    # when
    events = async_to_sync(_all_events)(turn)

    # then: the user gets the fallback's answer, billed to the model that produced it
    assert "".join(e.data["text"] for e in events if e.name == "delta") == (
        "Answered by the fallback."
    )
    assert events[-2].data["provider"] == "anthropic"
    assert events[-2].data["model"] == "claude-haiku-4-5"
    message = _stored(org_a, turn)
    assert message.status == MessageStatus.COMPLETE
    assert (message.provider, message.model) == ("anthropic", "claude-haiku-4-5")
    record = UsageRecord.objects.get(organization=org_a.organization, kind="chat")
    assert (record.provider, record.prompt_tokens, record.completion_tokens) == ("anthropic", 40, 6)


async def _all_events(turn):
    return [event async for event in streaming.turn_events(turn)]

"""At most N answering requests per worker are prepared at once; streams are not counted."""

import asyncio
import contextlib

from chat.admission import PreparationGate


class Answerer:
    """An ASGI app that 'prepares' until told to, then streams until told to."""

    def __init__(self):
        self.preparing = 0
        self.most_preparing = 0
        self.prepare = asyncio.Event()
        self.finish = asyncio.Event()
        self.streaming = 0

    async def __call__(self, scope, receive, send):
        self.preparing += 1
        self.most_preparing = max(self.most_preparing, self.preparing)
        await self.prepare.wait()
        self.preparing -= 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        self.streaming += 1
        await self.finish.wait()
        await send({"type": "http.response.body", "body": b"done"})


def _request(path: str, method: str = "POST") -> dict:
    return {"type": "http", "method": method, "path": path}


async def _nothing():
    return {"type": "http.request", "body": b""}


async def _drop(message):
    return None


async def _let_run():
    """Let every ready task run until it blocks (no wall-clock wait)."""
    for _ in range(50):
        await asyncio.sleep(0)


def test_only_n_answers_are_prepared_at_once_and_streams_do_not_count():
    async def scenario():
        app = Answerer()
        gate = PreparationGate(app, slots=2)
        paths = [
            "/api/v1/chat",
            "/api/v1/chat/messages/m1/regenerate",
            "/api/v1/chat/messages/m2/edit",
            "/api/v1/widget/wgt_abc/chat",  # a website widget's anonymous visitors
        ]
        tasks = [
            asyncio.ensure_future(gate(_request(paths[i % 4]), _nothing, _drop)) for i in range(8)
        ]
        await _let_run()
        waiting_while_preparing = app.preparing
        app.prepare.set()  # every admitted request starts streaming, freeing its slot
        await _let_run()
        all_streaming_at_once = app.streaming
        app.finish.set()
        await asyncio.gather(*tasks)
        return waiting_while_preparing, app.most_preparing, all_streaming_at_once

    preparing, most, streaming = asyncio.run(scenario())

    assert preparing == 2 and most == 2
    assert streaming == 8  # eight streams held with two slots: streaming takes none


def test_other_requests_pass_the_gate_untouched():
    async def scenario():
        app = Answerer()
        gate = PreparationGate(app, slots=1)
        requests = [
            _request("/api/v1/chat/sessions"),
            _request("/api/v1/chat", "GET"),
            _request("/api/v1/assistants"),
            _request("/api/v1/widget/wgt_abc/feedback"),
            _request("/api/v1/widget/wgt_abc/chat", "OPTIONS"),
        ]
        tasks = [asyncio.ensure_future(gate(r, _nothing, _drop)) for r in requests]
        await _let_run()
        preparing = app.preparing
        app.prepare.set()
        app.finish.set()
        await asyncio.gather(*tasks)
        return preparing

    assert asyncio.run(scenario()) == 5


def test_a_failing_preparation_gives_its_slot_back():
    async def failing(scope, receive, send):
        raise RuntimeError("preparation failed")

    async def scenario():
        gate = PreparationGate(failing, slots=1)
        for _ in range(3):  # would wait forever if the first failure kept the slot
            with contextlib.suppress(RuntimeError):
                await asyncio.wait_for(gate(_request("/api/v1/chat"), _nothing, _drop), 5)

    asyncio.run(scenario())

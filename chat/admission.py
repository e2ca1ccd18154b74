"""Admission of answering requests: a bound on how many one worker prepares at once.

Preparing a turn (middleware, authorization, retrieval, rows) holds a worker thread and
a PostgreSQL connection; streaming the answer holds neither (ADR 0016).
Without a bound, a burst of N questions opens N threads and N database connections at
once: 200 soak clients made PostgreSQL refuse connections ("too many clients") and every
turn slower. This ASGI middleware lets at most ``CHAT_PREPARING_MAX`` answering requests
per worker run until their response starts; the others wait on the event loop, where
waiting costs a coroutine, not a thread or a connection. Streams, once started, are not
counted: a worker still holds thousands.
"""

from __future__ import annotations

import asyncio
import re
import weakref

from django.conf import settings

# POST /api/v1/chat, /api/v1/chat/messages/<id>/regenerate and .../edit, and a website
# widget's visitor's message (/api/v1/widget/<public id>/chat): anonymous bursts are the
# likeliest of all, and each would otherwise hold a thread and a connection.
ANSWERING = re.compile(r"^/api/v1/(chat(/messages/[^/]+/(regenerate|edit))?|widget/[^/]+/chat)/?$")


class PreparationGate:
    def __init__(self, app, slots: int | None = None):
        self.app = app
        self.slots = slots
        self._semaphores: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _semaphore(self) -> asyncio.Semaphore:
        """One per event loop (a server has one; tests run several)."""
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = asyncio.Semaphore(self.slots or settings.CHAT_PREPARING_MAX)
            self._semaphores[loop] = semaphore
        return semaphore

    async def __call__(self, scope, receive, send):
        if not (
            scope["type"] == "http"
            and scope.get("method") == "POST"
            and ANSWERING.match(scope.get("path", ""))
        ):
            return await self.app(scope, receive, send)
        semaphore = self._semaphore()
        await semaphore.acquire()
        held = True

        def release() -> None:
            nonlocal held
            if held:
                held = False
                semaphore.release()

        async def send_and_release(message):
            if message["type"] == "http.response.start":
                release()  # prepared: what follows is streaming
            await send(message)

        try:
            await self.app(scope, receive, send_and_release)
        finally:
            release()

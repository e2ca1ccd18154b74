"""ASGI entry point: Django for HTTP (SSE included), Channels for WebSockets, and the
lifespan protocol so a graceful shutdown stores the answers still streaming."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
# The web server pools its PostgreSQL connections (config/settings/database.py, ADR 0021):
# every request runs in a thread of its own, and a new connection per request cost more
# than most requests' queries. DB_POOL_MAX_SIZE=0 turns it off.
_POOL_BY_DEFAULT = "DB_POOL_MAX_SIZE" not in os.environ
os.environ.setdefault("DB_POOL_MAX_SIZE", "20")
django_application = get_asgi_application()
if _POOL_BY_DEFAULT:  # read by the settings now; processes started from here decide anew
    del os.environ["DB_POOL_MAX_SIZE"]

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from billing.api.webhook import StripeWebhookIngress  # noqa: E402
from chat.admission import PreparationGate  # noqa: E402
from chat.routing import websocket_urlpatterns  # noqa: E402
from core.body_limit import RequestBodyLimit  # noqa: E402
from core.websocket import BrowserOriginValidator, OrganizationWebsocketMiddleware  # noqa: E402

# Seconds the shutdown waits for open answers to store themselves `cancelled`.
STREAMS_SHUTDOWN_TIMEOUT = 10.0


async def lifespan(scope, receive, send):
    """Start-up has nothing to do; at shutdown (after uvicorn's graceful timeout) every
    answer still streaming is cancelled and stored `cancelled` with its text so far,
    before the process exits (chat/streaming.py)."""
    from chat.streaming import streams_cancel_open
    from core.metrics import metrics_serve, process_exited

    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            metrics_serve()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await streams_cancel_open(timeout=STREAMS_SHUTDOWN_TIMEOUT)
            process_exited()
            await send({"type": "lifespan.shutdown.complete"})
            return


application = ProtocolTypeRouter(
    {
        "lifespan": lifespan,
        # At most CHAT_PREPARING_MAX answers prepared at once per worker (chat/admission.py).
        # Stripe's webhooks are stored and answered before Django (billing/api/webhook.py).
        # Bodies over the limit are refused before anything reads them (core/body_limit.py).
        "http": RequestBodyLimit(StripeWebhookIngress(PreparationGate(django_application))),
        # The Origin check stops other sites from opening sockets with a user's cookie.
        "websocket": BrowserOriginValidator(
            OrganizationWebsocketMiddleware(URLRouter(websocket_urlpatterns))
        ),
    }
)

# The collector (ADR 0110). Start-up made most of the heap (Django, the apps, the SDKs'
# models): frozen, full collections no longer walk it. And a collection every
# GC_YOUNG_THRESHOLD new container objects rather than Python's 700: an open stream
# allocates on every delta, and with 1,000 streams held the default collected ~7 times a
# second, 10-18 % of the worker's CPU; 2.8 % with both (bench/chat.py, docs/benchmarks.md).
GC_YOUNG_THRESHOLD = 20_000
gc.freeze()
gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)

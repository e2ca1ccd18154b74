"""ASGI entry point: Django for HTTP (SSE included), Channels for WebSockets."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from chat.admission import PreparationGate  # noqa: E402
from chat.routing import websocket_urlpatterns  # noqa: E402
from core.websocket import BrowserOriginValidator, OrganizationWebsocketMiddleware  # noqa: E402

application = ProtocolTypeRouter(
    {
        # At most CHAT_PREPARING_MAX answers prepared at once per worker (chat/admission.py).
        "http": PreparationGate(django_application),
        # The Origin check stops other sites from opening sockets with a user's cookie.
        "websocket": BrowserOriginValidator(
            OrganizationWebsocketMiddleware(URLRouter(websocket_urlpatterns))
        ),
    }
)

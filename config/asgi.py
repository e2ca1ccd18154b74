"""ASGI entry point: Django for HTTP (SSE included), Channels for WebSockets."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from chat.routing import websocket_urlpatterns  # noqa: E402
from core.websocket import BrowserOriginValidator, OrganizationWebsocketMiddleware  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_application,
        # The Origin check stops other sites from opening sockets with a user's cookie.
        "websocket": BrowserOriginValidator(
            OrganizationWebsocketMiddleware(URLRouter(websocket_urlpatterns))
        ),
    }
)

"""Open sockets follow access changes: the services close them through the channel layer.

Each chat socket joins, on Channels' layer (Redis), the groups of what gave it
access: its member (organization + user), its person, its login session and its
API key. When that access ends or changes, the service that changed it sends a
``socket.close`` to the group once its transaction commits, from whichever
process it runs in, and every socket in the group closes at once:

    membership removed or role changed  the member's sockets in that organization
    password changed                     the person's sockets everywhere
    logged out                           the sockets of that login session
    API key revoked                      the key's sockets

The sockets also re-authorize every message (``core.api.authorization``), so a
close that never arrives (Redis down at that instant) still ends at the next one.
"""

from __future__ import annotations

import hashlib
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

# Close codes the client sees (4000-4999: the application's own).
CLOSE_UNAUTHENTICATED = 4401  # logged out, password changed, key revoked
CLOSE_ACCESS_CHANGED = 4403  # role changed: reconnect to get the new one
CLOSE_NOT_FOUND = 4404  # no longer a member (as on HTTP: "not found")


def member_group(*, organization_id, user_id) -> str:
    return f"member.{organization_id}.{user_id}"


def user_group(*, user_id) -> str:
    return f"user.{user_id}"


def login_session_group(*, session_key: str) -> str:
    # A digest: the session key is a credential and must not travel to Redis.
    return "login." + hashlib.sha256(session_key.encode()).hexdigest()[:40]


def api_key_group(*, api_key_id) -> str:
    return f"api-key.{api_key_id}"


def sockets_close(*, group: str, code: int, reason: str) -> None:
    """Close every socket of ``group`` once the current transaction commits (at once
    outside one): a rolled-back change closes nothing."""
    transaction.on_commit(lambda: _send_close(group, code, reason))


def _send_close(group: str, code: int, reason: str) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            group, {"type": "socket.close", "code": code, "reason": reason}
        )
    except Exception:
        # The change itself is committed; the sockets' per-message check still ends
        # their access at their next message.
        logger.warning("could not notify the sockets of %s", group, exc_info=True)

"""Notification channels: where a workflow's ``notify`` step can post, provided by the
apps that own the channel.

Workflows sit beside integrations (siblings never import each other), so the Slack and
Teams senders reach the notify step through this registry: ``integrations`` registers
one ``NotifyChannel`` per target kind in its ``AppConfig.ready``; the step looks the
kind up (``channel_for``) to check a target at publish, list the destinations a builder
may pick, and send. E-mail needs no registration (the step sends it itself).

A kind nobody registered is a wiring error for a sender (``LookupError``); for a
workflow it is a field error at publish ("not available here").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Destination:
    """A place a notification can go: a channel (or chat) of one installed integration."""

    kind: str  # the target kind: "slack", "teams"
    integration_id: str
    integration_name: str
    channel_id: str
    name: str  # the channel's name where known, else ""
    channel_kind: str = ""  # "channel", "im", "groupChat", "personal"...


@dataclass(frozen=True)
class Notification:
    text: str
    title: str = ""
    # The same on every attempt of one step run: a sender uses it to recognise (and not
    # repeat) a message an earlier attempt may have posted.
    key: str = ""
    # True when an earlier attempt may have posted before it was interrupted; ``since``
    # is when the step first started (a sender looks no further back).
    maybe_sent: bool = False
    since: datetime | None = None


@dataclass(frozen=True)
class Delivered:
    message_id: str  # the provider's id of the message ("" when unknown)
    # False: an earlier attempt may have posted it and the provider cannot be asked, so
    # nothing was posted again (at most once).
    confirmed: bool = True
    # True: an earlier attempt's message was found; nothing was posted again.
    found_earlier: bool = False


class DeliveryFailed(Exception):
    """The provider refused or could not be reached. ``retryable``: another attempt may
    pass (a 5xx, a rate limit: ``retry_after`` seconds when the provider says)."""

    def __init__(self, message: str, *, retryable: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after


class NotifyChannel(Protocol):
    kind: str
    label: str

    def check(self, *, organization, integration_id: str, channel_id: str) -> dict[str, str]:
        """Problems with a target, by field (``integration_id``, ``channel_id``); empty
        when the integration is installed in ``organization`` and the channel is one of
        its own. Another organization's integration is unknown here."""
        ...

    def destinations(self, *, organization) -> list[Destination]: ...

    def send(
        self, *, organization, integration_id: str, channel_id: str, notification: Notification
    ) -> Delivered:
        """Post ``notification``, or raise ``DeliveryFailed``."""
        ...


_channels: dict[str, NotifyChannel] = {}


def register(channel: NotifyChannel) -> None:
    """Register (or replace) the channel of ``channel.kind``."""
    _channels[channel.kind] = channel


def channel_for(kind: str) -> NotifyChannel:
    try:
        return _channels[kind]
    except KeyError:
        raise LookupError(f"No app registered the notification channel {kind!r}.") from None


def kinds() -> list[str]:
    return sorted(_channels)

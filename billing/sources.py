"""What billing counts and names but does not own, provided by the apps that do.

Billing sits below chat, knowledge_base and integrations (they call its quota
checks), so it cannot import them. Each of those apps registers here, in its
``AppConfig.ready``, the one function billing needs from it:

    counter "messages_since"  (since: datetime) -> int   chat: users' messages
    counter "document_totals" () -> (count, bytes)      knowledge_base
    counter "attachment_bytes" () -> bytes              files (attachments' bytes)
    labels  "assistant", "api_key"  (ids) -> {id: name}  assistants, integrations

A counter nobody registered is a wiring error and raises; a missing label
source leaves ids unnamed.
"""

from collections.abc import Callable

_counters: dict[str, Callable] = {}
_labels: dict[str, Callable[[list], dict[str, str]]] = {}


def register_counter(name: str, function: Callable) -> None:
    _counters[name] = function


def register_labels(group: str, function: Callable[[list], dict[str, str]]) -> None:
    _labels[group] = function


def count(name: str, **kwargs):
    try:
        counter = _counters[name]
    except KeyError:
        raise LookupError(f"No app registered the billing counter {name!r}.") from None
    return counter(**kwargs)


def labels(group: str, ids: list) -> dict[str, str]:
    source = _labels.get(group)
    return source(ids) if source else {}

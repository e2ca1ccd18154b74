"""What the files app needs from the app that reads documents, registered at start-up.

Reading documents (PDF, DOCX, HTML...) is the knowledge base's extraction
(knowledge_base/extraction/, under its resource limits). The knowledge base sits above
this app, so it registers here, in its ``AppConfig.ready``, the two functions files
needs (ADR 0026):

    detector   (data: bytes, name: str) -> content type   raises ``UnsupportedFile``
    processor  (file: File) -> None                      extracts and records the result

An unregistered function is a wiring error and raises.
"""

from collections.abc import Callable

_registry: dict[str, Callable] = {}


class UnsupportedFile(Exception):
    """The upload is not a type the platform reads; ``message`` is safe to show."""

    def __init__(self, message: str, *, empty: bool = False):
        super().__init__(message)
        self.message = message
        self.empty = empty


def register(*, detector: Callable, processor: Callable) -> None:
    _registry["detector"] = detector
    _registry["processor"] = processor


def _get(name: str) -> Callable:
    try:
        return _registry[name]
    except KeyError:
        raise LookupError(f"No app registered the file {name}.") from None


def detect_document(data: bytes, name: str) -> str:
    return _get("detector")(data, name)


def process(file) -> None:
    _get("processor")(file)

"""Extraction errors: every `.message` is written for end users (no paths, no library internals)."""

from __future__ import annotations


class DocumentError(Exception):
    """Base class; `.message` is written for end users (no paths, no library internals)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsupportedContent(DocumentError):
    """The upload is not one of the allowed formats, or its name contradicts its content."""


class EmptyContent(DocumentError):
    """The upload has no bytes, or no text at all."""


class ExtractionError(DocumentError):
    """The format is allowed but the file cannot be read (corrupt, encrypted, scanned...)."""
